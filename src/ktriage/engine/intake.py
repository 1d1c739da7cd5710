"""First stage: turn what a caller gave (a Report, a dict, JSON text) into a valid Report.

Every problem becomes a ``FieldError`` that names the field and says what is wrong in
plain words; pydantic's own wording and tracebacks never reach a user.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import MAX_ERRORS, FieldError, InvalidReport
from .models import (
    MAX_HISTORY_DAYS,
    NUMERIC_FIELDS,
    CheckIn,
    Measurements,
    Report,
    Route,
    Severity,
    Symptom,
    Treatment,
)

# Which model sits under which key, so an unknown key can be matched to its siblings.
_CHILDREN: dict[type[BaseModel], dict[str, type[BaseModel]]] = {
    Report: {
        "symptoms": Symptom,
        "measurements": Measurements,
        "treatment": Treatment,
        "history": CheckIn,
    },
    CheckIn: {"symptoms": Symptom, "measurements": Measurements, "treatment": Treatment},
}
# each model's field names, once: reading ``model_fields`` per call costs a descriptor call
_KNOWN: dict[type[BaseModel], frozenset[str]] = {
    m: frozenset(m.model_fields) for m in (Report, CheckIn, Symptom, Measurements, Treatment)
}
_ENUM_FIELDS = {"severity": Severity, "route": Route}
_QUOTED_NUMBER = re.compile(r"^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$")


def suggest(name: str, candidates: list[str] | set[str] | tuple[str, ...]) -> str | None:
    """The nearest candidate to a misspelt name, or None when nothing is close."""
    found = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return found[0] if found else None


def parse_report(data: Report | dict[str, Any] | str | bytes) -> Report:
    """Validate ``data`` as a Report; raise ``InvalidReport`` naming every bad field."""
    if isinstance(data, Report):
        if data.history:
            check_history(data, data)
        return data
    given = data
    if isinstance(data, str | bytes):
        data = load_json(data)
    if not isinstance(data, dict):
        raise InvalidReport(
            [FieldError("", f"a report must be a JSON object, got {json_type(data)}")], given
        )
    unknown = _unknown_fields(data, Report)
    if len(unknown) > MAX_ERRORS:
        # Thousands of unknown keys: name the first ones without asking pydantic to build
        # (and this module to translate) one error for each.
        errors = [
            field_error({"type": "extra_forbidden", "loc": loc}, Report)
            for loc in unknown[:MAX_ERRORS]
        ]
        raise InvalidReport(errors, given, total=len(unknown))
    try:
        report = Report.model_validate(data)
    except ValidationError as exc:
        first = exc
    else:
        if report.history:
            check_history(report, given)
        return report
    # Values with units or words ("176 lb", "two weeks", "IV drip") fail strict validation;
    # only then are they read, so a report of plain numbers never pays for it.
    read, unit_errors = _read_units(data, first)
    if read is None:
        raise InvalidReport(field_errors(first, Report), given, total=first.error_count())
    try:
        report = Report.model_validate(read)
    except ValidationError as exc:
        errors = [e for e in field_errors(exc, Report) if e.field not in unit_errors]
        errors += [FieldError(f, m) for f, m in unit_errors.items()]
        raise InvalidReport(errors, given, total=exc.error_count()) from None
    if unit_errors:
        errors = [FieldError(f, m) for f, m in unit_errors.items()]
        raise InvalidReport(errors, given)
    if report.history:
        check_history(report, given)
    return report


# (where, what reads it): a string in these fields is read with its unit or words
_UNIT_FIELDS = {
    ("measurements", "weight_kg"): "mass",
    ("measurements", "baseline_weight_kg"): "mass",
    ("measurements", "fasting_glucose_mg_dl"): "glucose",
    ("symptoms", "days"): "days",
    ("treatment", "route"): "route",
}


def _read_units(
    data: dict[str, Any], exc: ValidationError
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """A copy of ``data`` with unit strings read, and the problems of those that could not
    be read (by field); None when no failing field held a unit string."""
    from . import units

    todo = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        raw = err.get("input")
        if not isinstance(raw, str) or len(loc) < 2:
            continue
        key = (str(loc[0]), str(loc[-1]))
        kind = _UNIT_FIELDS.get(key)
        if kind is None or (kind != "route" and units.is_bare_number(raw)):
            continue  # a quoted plain number stays an error ("remove the quotes")
        todo.append((loc, kind, raw))
    if not todo:
        return None, {}
    read = copy.deepcopy(data)  # the caller's data is never changed
    problems: dict[str, str] = {}
    for loc, kind, raw in todo:
        try:
            if kind == "mass":
                value: Any = units.read_mass_kg(raw)
            elif kind == "glucose":
                value = units.read_glucose_mg_dl(raw)
            elif kind == "days":
                value = units.read_days(raw)[0]
            else:
                value = units.read_route(raw).value
        except units.UnitError as unit_exc:
            if kind != "route" and any(c.isdigit() for c in raw):
                problems[".".join(map(str, loc))] = str(unit_exc)
            continue  # words that are no unit at all ("heavy"): the contract's own message
        parent: Any = read
        for part in loc[:-1]:
            parent = parent[part]
        parent[loc[-1]] = value
    return read, problems


def check_history(report: Report, given: object) -> None:
    """Earlier check-ins must be earlier than the report, and within the span kept."""
    now = report.reported_at or dt.datetime.now(dt.UTC)
    oldest = now - dt.timedelta(days=MAX_HISTORY_DAYS)
    errors: list[FieldError] = []
    for i, entry in enumerate(report.history):
        when = entry.reported_at
        if when > now:
            said = "the report's reported_at" if report.reported_at else "now (the report's time)"
            errors.append(
                FieldError(
                    f"history.{i}.reported_at",
                    f"is later than {said}: history holds earlier check-ins only",
                )
            )
        elif when < oldest:
            errors.append(
                FieldError(
                    f"history.{i}.reported_at",
                    f"is more than {MAX_HISTORY_DAYS} days before the report; leave older"
                    " check-ins out",
                )
            )
    if errors:
        raise InvalidReport(errors, given)


def _unknown_fields(data: dict[str, Any], root: type[BaseModel]) -> list[tuple[str | int, ...]]:
    """Where the keys no model knows are (all of them: counting is cheap).

    Runs before every validation, so the usual case (every key known) is a few set
    comparisons done in C; keys are walked one by one only in an object that has an
    unknown one.
    """
    found: list[tuple[str | int, ...]] = []
    todo: list[tuple[tuple[str | int, ...], dict[str, Any], type[BaseModel]]] = [((), data, root)]
    while todo:
        loc, obj, model = todo.pop(0)
        known = _KNOWN[model]
        children = _CHILDREN.get(model, {})
        if not obj.keys() <= known:  # rare: only then are the keys walked one by one
            found.extend((*loc, key) for key in obj if key not in known)
        for key in children.keys() & obj.keys():
            value = obj[key]
            child = children[key]
            if isinstance(value, dict):
                todo.append(((*loc, key), value, child))
            elif isinstance(value, list):
                todo.extend(
                    ((*loc, key, i), item, child)
                    for i, item in enumerate(value)
                    if isinstance(item, dict)
                )
    return found


class _Duplicated(dict[str, Any]):
    """An object in which a key appeared twice (``duplicate`` names it)."""

    duplicate: str = ""


def _first_duplicate(data: Any) -> tuple[str, str] | None:
    """(dotted path, key) of the first object, in document order, holding a key twice."""
    todo: list[tuple[str, Any]] = [("", data)]
    while todo:
        path, node = todo.pop()
        if isinstance(node, _Duplicated):
            return path + node.duplicate, node.duplicate
        if isinstance(node, dict):
            todo.extend((f"{path}{k}.", v) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            todo.extend((f"{path}{i}.", v) for i, v in reversed(list(enumerate(node))))
    return None


def load_json(text: str | bytes) -> Any:
    """Parse JSON text; every way it can fail becomes an ``InvalidReport``.

    Strict: an object that holds the same key twice is refused, naming the key, because
    readers disagree on which value wins (Python keeps the last, others the first).
    """
    if isinstance(text, bytes):
        try:
            decoded = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidReport(
                [FieldError("", f"input is not UTF-8 text: {exc.reason}")], text
            ) from None
    else:
        decoded = text
    flagged: list[_Duplicated] = []

    def strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) == len(pairs):
            return out
        marked = _Duplicated(out)
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                marked.duplicate = key
                break
            seen.add(key)
        flagged.append(marked)
        return marked

    try:
        data = json.loads(decoded, object_pairs_hook=strict_object)
    except RecursionError:
        raise InvalidReport([FieldError("", "JSON nested too deeply")], text) from None
    except json.JSONDecodeError as exc:
        # one line of text (a batch line, a request body) has no line number of its own to
        # give: "line 1" would be read as the first line of the batch
        one_line = "\n" not in decoded.rstrip()
        where = f"column {exc.colno}" if one_line else f"line {exc.lineno}, column {exc.colno}"
        raise InvalidReport(
            [FieldError("", f"malformed JSON at {where}: {exc.msg}")], text
        ) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise InvalidReport([FieldError("", f"unreadable JSON: {exc}")], text) from None
    duplicate = _first_duplicate(data) if flagged else None
    if duplicate is not None:
        path, key = duplicate
        raise InvalidReport(
            [FieldError(path, f"duplicate key {key!r}: a key may appear only once in an object")],
            text,
        )
    return data


def field_errors(exc: ValidationError, root: type[BaseModel]) -> list[FieldError]:
    """Translate a pydantic error into one plain message per bad field (the first
    ``MAX_ERRORS``; ``exc.error_count()`` counts them all)."""
    return [field_error(err, root) for err in exc.errors(include_url=False)[:MAX_ERRORS]]


def field_error(err: Any, root: type[BaseModel]) -> FieldError:
    """One of pydantic's error details as a plain FieldError."""
    loc = tuple(err["loc"])
    return FieldError(".".join(str(p) for p in loc), _message(err, loc, root))


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        model = _CHILDREN.get(model, {}).get(part)
    return model


def _message(err: Any, loc: tuple[Any, ...], root: type[BaseModel]) -> str:
    kind = err["type"]
    field = next((p for p in reversed(loc) if isinstance(p, str)), "")
    value = _Shown(err.get("input"))
    raw = value.value
    if isinstance(raw, int) and not isinstance(raw, bool) and abs(raw) > 10**100:
        return "is far outside any plausible range"
    if kind == "extra_forbidden":
        parent = _model_at(root, loc[:-1])
        known = list(parent.model_fields) if parent else []
        hint = suggest(str(loc[-1]), known)
        text = "unknown field"
        if hint:
            text += f"; did you mean {hint!r}?"
        elif known:
            text += f"; known fields: {', '.join(known)}"
        return text
    if kind == "missing":
        return "is required"
    if kind in ("greater_than_equal", "less_than_equal") and field in NUMERIC_FIELDS:
        f = NUMERIC_FIELDS[field]
        text = f"must be between {f.low:g} and {f.high:g} {f.unit} (got {value!r})"
        if field == "fasting_glucose_mg_dl" and isinstance(raw, int | float):
            from .units import glucose_hint

            hint = glucose_hint(float(raw))
            text += f"; {hint}" if hint else ""
        return text
    if kind == "enum" and field in _ENUM_FIELDS:
        allowed = ", ".join(m.value for m in _ENUM_FIELDS[field])
        return f"must be one of {allowed} (got {value!r})"
    if kind in ("float_type", "float_parsing", "finite_number"):
        if kind == "finite_number":
            return "must be a finite number"
        if isinstance(raw, str) and _QUOTED_NUMBER.match(raw):
            return f"expected a number, got {value!r}: remove the quotes"
        return f"must be a number (got {json_type(value.value)} {value!r})"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false (got {value!r})"
    if kind in ("string_type",):
        return f"must be text (got {json_type(value.value)})"
    if kind == "string_unicode":
        return "must be valid text (it holds an unpaired surrogate)"
    if kind in ("string_too_short", "too_short"):
        return "must not be empty"
    if kind == "string_too_long":
        return f"is too long (at most {err['ctx']['max_length']} characters)"
    if kind == "too_long":
        return f"has too many items (at most {err['ctx']['max_length']})"
    if kind in ("list_type",):
        return f"must be a list (got {json_type(value.value)})"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be an object (got {json_type(value.value)})"
    if kind == "value_error":
        msg = str(err["ctx"]["error"]) if "ctx" in err else err["msg"]
        return msg
    return str(err["msg"])


class _Shown:
    """A value as it appears in a message: its repr, shortened, never failing."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        try:
            text = repr(self.value)
        except ValueError:  # an int too long to print
            return "a number too long to show"
        return text if len(text) <= 60 else text[:57] + "..."


def json_type(value: Any) -> str:
    """What kind of JSON value ``value`` is, in words for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
