"""Reading FHIR resources into a Report (see the package docstring for the rules)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..engine.errors import FieldError, InvalidReport
from ..engine.intake import json_type, load_json, parse_report, suggest
from ..engine.models import (
    MEASUREMENT_FIELDS,
    NUMERIC_FIELDS,
    Report,
    Route,
    Severity,
    Skipped,
)
from .codes import (
    BASELINE_EXTENSION,
    BASELINE_MAX_DAYS,
    BASELINE_MIN_DAYS,
    BP_PANEL_CODES,
    DECIMALS,
    IGNORED_STATUS,
    KIND_OF_CODE,
    KIND_OF_FIELD,
    LOINC,
    NO_RESULT_STATUS,
    OTHER_GLUCOSE_CODES,
    PATIENT_REF,
    QUESTIONNAIRE_URL,
    ROUTE_SYSTEM,
    SEVERITY_SYSTEM,
    SYMPTOM_BOOLEANS,
    SYMPTOM_DAYS,
    SYMPTOM_SYSTEM,
    UCUM,
    Kind,
)
from .resources import Observation, Patient, QuestionnaireResponse

if TYPE_CHECKING:
    from ..engine.pack import RulePack


@dataclass(frozen=True)
class FhirReading:
    """A Report read from FHIR, what was left out of it (what, where, why), and the date
    of each measurement read (None: the value carried no date)."""

    report: Report
    skipped: tuple[Skipped, ...] = ()
    dates: dict[str, datetime | None] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        """Whether anything triage grades was read: a symptom or a measurement."""
        m = self.report.measurements
        return bool(self.report.symptoms) or any(
            getattr(m, name) is not None
            for name in MEASUREMENT_FIELDS
            if name != "baseline_weight_kg"  # graded only against a weight of today
        )


@dataclass
class _Candidate:
    value: Any
    when: datetime | None
    order: int
    path: str
    skip: Skipped | None = None  # set when the value is too old to grade (weights only)


@dataclass
class _Reader:
    vocabulary: Any
    strict: bool
    since: datetime | None
    now: datetime
    expected_patient: str | None
    errors: list[FieldError] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    full_urls: dict[str, str] = field(default_factory=dict)  # Patient fullUrl -> patient key
    weights: list[_Candidate] = field(default_factory=list)  # every dated weight read
    values: dict[str, list[_Candidate]] = field(default_factory=dict)
    symptoms: list[dict[str, Any]] = field(default_factory=list)
    treatment: dict[str, list[_Candidate]] = field(default_factory=dict)
    ages: list[_Candidate] = field(default_factory=list)
    patients: dict[str, str] = field(default_factory=dict)  # patient id -> where seen
    order: int = 0

    def error(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def skip(self, path: str, what: str, why: str) -> Skipped:
        """Leave a piece of the input out, saying what it was and why."""
        note = Skipped(what=what, where=_where(path), why=why)
        self.skipped.append(note)
        return note

    def problem(self, path: str, what: str, why: str) -> None:
        """Something one item says that cannot be graded: an error with ``strict``,
        otherwise the item is skipped and the rest is read."""
        if self.strict:
            self.error(path, why)
        else:
            self.skip(path, what, why)

    def cutoff(self, days: int) -> datetime:
        return self.since if self.since is not None else self.now - timedelta(days=days)

    def next_order(self) -> int:
        self.order += 1
        return self.order


# -- public API ------------------------------------------------------------------------


def report_from_fhir(
    data: dict[str, Any] | str | bytes,
    pack: RulePack | None = None,
    *,
    strict: bool = False,
    since: datetime | None = None,
    patient_id: str | None = None,
    now: datetime | None = None,
) -> Report:
    """A Report from a FHIR Bundle, Observation or QuestionnaireResponse (dict or JSON).

    Raises ``InvalidReport`` listing every problem as a ``FieldError`` whose ``field`` is
    a dotted path into the FHIR input (``entry.2.resource.valueQuantity.code``).
    See ``read_fhir`` for the keyword arguments.
    """
    return read_fhir(data, pack, strict=strict, since=since, patient_id=patient_id, now=now).report


def read_fhir(
    data: dict[str, Any] | str | bytes,
    pack: RulePack | None = None,
    *,
    strict: bool = False,
    since: datetime | None = None,
    patient_id: str | None = None,
    now: datetime | None = None,
) -> FhirReading:
    """Like ``report_from_fhir``, also returning what was skipped and why.

    ``pack``: whose vocabulary the questionnaire's symptom codes are checked against
    (default: the shipped pack). By default a record is read as it comes: resources,
    codes and values ktriage cannot use are skipped and listed in ``skipped``;
    ``strict=True`` refuses them instead. ``since``: grade values dated from then on
    (default: each measurement's window, ``Kind.window_days``, before ``now``); older and
    undated values are skipped, except the baseline weight. ``patient_id``: every
    resource's subject must be this patient. ``now``: the date ages and windows are
    computed at.
    """
    if isinstance(data, str | bytes):
        data = load_json(data)
    vocabulary = (pack or default_pack()).vocabulary
    reader = _Reader(
        vocabulary=vocabulary,
        strict=strict,
        since=_utc(since) if since else None,
        now=_utc(now) if now else datetime.now(UTC),
        expected_patient=patient_id,
    )
    if not isinstance(data, dict):
        raise InvalidReport(
            [FieldError("", f"expected a FHIR resource (a JSON object), got {json_type(data)}")],
            data,
        )
    kind = data.get("resourceType")
    if kind == "Bundle":
        _read_bundle(reader, data)
    elif kind in ("Observation", "QuestionnaireResponse", "Patient"):
        _read_resource(reader, data, "")
    else:
        reader.error(
            "resourceType",
            f"expected a Bundle, an Observation or a QuestionnaireResponse, got {kind!r}",
        )
    if reader.errors:
        raise InvalidReport(reader.errors, data)
    fields, dates = _assemble(reader)
    report = parse_report(fields)
    return FhirReading(report, tuple(reader.skipped), dates)


@functools.lru_cache(maxsize=1)
def default_pack() -> RulePack:
    from ..engine.pack import load_pack

    return load_pack()


# -- bundles and resources ---------------------------------------------------------------


def _read_bundle(reader: _Reader, data: dict[str, Any]) -> None:
    entries = data.get("entry", [])
    if not isinstance(entries, list):
        reader.error("entry", f"must be a list, got {json_type(entries)}")
        return
    for entry in entries:  # references resolve against every entry's fullUrl
        if isinstance(entry, dict) and isinstance(entry.get("fullUrl"), str):
            res = entry.get("resource")
            if isinstance(res, dict) and res.get("resourceType") == "Patient":
                key = res.get("id") if isinstance(res.get("id"), str) else None
                reader.full_urls[entry["fullUrl"]] = key or _urn_key(entry["fullUrl"])
    for i, entry in enumerate(entries):
        path = f"entry.{i}"
        if not isinstance(entry, dict):
            reader.error(path, f"must be an object, got {json_type(entry)}")
            continue
        resource = entry.get("resource")
        if resource is None:
            continue  # e.g. a transaction-response entry: nothing to read
        if not isinstance(resource, dict):
            reader.error(f"{path}.resource", f"must be an object, got {json_type(resource)}")
            continue
        _read_resource(reader, resource, f"{path}.resource.", entry.get("fullUrl"))


def _read_resource(
    reader: _Reader, data: dict[str, Any], prefix: str, full_url: Any = None
) -> None:
    kind = data.get("resourceType")
    if kind == "Observation":
        obs = _validate(reader, Observation, data, prefix)
        if obs is not None:
            _read_observation(reader, obs, prefix)
    elif kind == "QuestionnaireResponse":
        qr = _validate(reader, QuestionnaireResponse, data, prefix)
        if qr is not None:
            _read_questionnaire_response(reader, qr, prefix)
    elif kind == "Patient":
        patient = _validate(reader, Patient, data, prefix)
        if patient is not None:
            _read_patient(reader, patient, prefix, full_url)
    elif kind == "OperationOutcome":
        reader.skip(prefix, "OperationOutcome", "carries no patient data")
    elif not reader.strict:
        reader.skip(prefix, str(kind), "resource type not used by ktriage")
    else:
        reader.error(
            prefix + "resourceType",
            f"resource type {kind!r} is not used by ktriage; send Observation,"
            " QuestionnaireResponse or Patient resources",
        )


def _validate(reader: _Reader, model: Any, data: dict[str, Any], prefix: str) -> Any:
    what = str(data.get("resourceType"))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if not reader.strict:
            err = errors[0]
            loc = ".".join(str(p) for p in err["loc"])
            msg = str(err["msg"]).split("\n")[0].removeprefix("Value error, ")
            reader.skip(prefix, what, f"not valid FHIR: {loc}: {msg}")
            return None
        for err in errors[:20]:
            loc = ".".join(str(p) for p in err["loc"])
            msg = str(err["msg"]).split("\n")[0].removeprefix("Value error, ")
            reader.error(prefix + loc, f"not valid FHIR: {msg}")
    except Exception:  # fhir.resources raises KeyError & co. for unknown nested types
        reader.problem(prefix.rstrip("."), what, "not a valid FHIR resource")
    return None


def _read_patient(reader: _Reader, patient: Any, prefix: str, full_url: Any) -> None:
    key = patient.id or (_urn_key(full_url) if isinstance(full_url, str) else None)
    if key:
        _see_patient(reader, key, prefix + "id")
    born = patient.birthDate
    if isinstance(born, date):
        now = reader.now.date()
        age = now.year - born.year - ((now.month, now.day) < (born.month, born.day))
        # Computed at ``now`` from the record: newer than any age a patient typed.
        reader.ages.append(
            _Candidate(float(age), reader.now, reader.next_order(), prefix + "birthDate")
        )
    elif born is not None:
        reader.skip(prefix + "birthDate", "Patient birthDate", "a partial date gives no exact age")


def _see_patient(reader: _Reader, ref_or_id: str, path: str, *, is_ref: bool = False) -> None:
    key = ref_or_id
    if is_ref:
        key = _patient_key(reader, ref_or_id)
    if reader.expected_patient is not None and key != reader.expected_patient:
        reader.error(path, "this resource is about another patient than the one in context")
        return
    if reader.patients and key not in reader.patients:
        first = next(iter(reader.patients.values()))
        reader.error(path, f"resources are about different patients (see {first})")
        return
    reader.patients.setdefault(key, path)


def _subject(reader: _Reader, resource: Any, prefix: str) -> None:
    subject = resource.subject
    if subject is not None and subject.reference:
        _see_patient(reader, subject.reference, prefix + "subject.reference", is_ref=True)


# -- observations ------------------------------------------------------------------------


def _loinc_codes(concept: Any) -> list[str]:
    if concept is None or not concept.coding:
        return []
    return [c.code for c in concept.coding if c.system == LOINC and c.code]


def _obs_time(obs: Any) -> datetime | None:
    if obs.effectiveDateTime is not None:
        return _when(obs.effectiveDateTime)
    if obs.effectiveInstant is not None:
        return _when(obs.effectiveInstant)
    if obs.effectivePeriod is not None:
        return _when(obs.effectivePeriod.end or obs.effectivePeriod.start)
    if obs.issued is not None:
        return _when(obs.issued)
    return None


def _read_observation(reader: _Reader, obs: Any, prefix: str) -> None:
    codes = _loinc_codes(obs.code)
    what = _obs_what(obs, codes)
    if obs.status in IGNORED_STATUS:
        reader.skip(prefix + "status", what, f"status {obs.status}: not a measurement")
        return
    kinds = {KIND_OF_CODE[c].field: KIND_OF_CODE[c] for c in codes if c in KIND_OF_CODE}
    panel = any(c in BP_PANEL_CODES for c in codes)
    if panel:
        kinds.pop("systolic_bp", None)
        kinds.pop("diastolic_bp", None)
    if len(kinds) + panel > 1:
        names = sorted(kinds) + (["blood pressure panel"] if panel else [])
        reader.problem(
            prefix + "code", what, f"codes of different measurements: {', '.join(names)}"
        )
        return
    if not kinds and not panel:
        if any(c in OTHER_GLUCOSE_CODES for c in codes):
            reader.skip(
                prefix + "code",
                what,
                "glucose not known to be fasting: only fasting glucose (LOINC 1558-6,"
                " 14771-0) is graded",
            )
        else:
            reader.problem(
                prefix + "code",
                what,
                "code not used by ktriage (the LOINC codes it reads are listed in docs/service.md)",
            )
        return
    if obs.status in NO_RESULT_STATUS:
        reader.problem(prefix + "status", what, f"status {obs.status}: no result yet")
        return
    when = _obs_time(obs)
    baseline = _is_baseline(obs)
    _subject(reader, obs, prefix)
    if panel:
        found = False
        for j, comp in enumerate(obs.component or []):
            for code in _loinc_codes(comp.code):
                kind = KIND_OF_CODE.get(code)
                if kind is not None and kind.field in ("systolic_bp", "diastolic_bp"):
                    found = True
                    _quantity(
                        reader,
                        kind,
                        kind.field,
                        comp,
                        when,
                        f"{prefix}component.{j}.",
                        f"{what} {kind.display.lower()}",
                    )
        if not found:
            reader.problem(
                prefix + "component",
                what,
                "a blood pressure panel needs a systolic (8480-6) or diastolic (8462-4) component",
            )
        return
    (kind,) = kinds.values()
    target = "baseline_weight_kg" if baseline and kind.field == "weight_kg" else kind.field
    if baseline and kind.field != "weight_kg":
        reader.problem(prefix + "extension", what, "the baseline flag is for body weight only")
        return
    _quantity(reader, kind, target, obs, when, prefix, what)


def _obs_what(obs: Any, codes: list[str]) -> str:
    """How a skipped Observation is named: its LOINC code and what it measures."""
    kind = next((KIND_OF_CODE[c] for c in codes if c in KIND_OF_CODE), None)
    if kind is not None:
        name = kind.display.lower()
    elif any(c in BP_PANEL_CODES for c in codes):
        name = "blood pressure"
    elif any(c in OTHER_GLUCOSE_CODES for c in codes):
        name = "glucose"
    else:
        name = (obs.code.text or "") if obs.code is not None else ""
        name = name if len(name) <= 60 else name[:59] + "…"
    code = codes[0] if codes else _concept_text(obs.code)
    return " ".join(p for p in ("Observation", code, name) if p)


def _is_baseline(obs: Any) -> bool:
    return any(
        ext.url == BASELINE_EXTENSION and ext.valueBoolean is True for ext in obs.extension or []
    )


def _current(
    reader: _Reader, when: datetime | None, days: int, path: str, what: str
) -> Skipped | None:
    """None when a value dated ``when`` is recent enough to grade, else why not (listed)."""
    if when is None:
        return reader.skip(path, what, "no date: cannot tell whether it is current")
    cutoff = reader.cutoff(days)
    if when < cutoff:
        limit = (
            f"before {reader.since.date().isoformat()}"
            if reader.since is not None
            else f"older than {days} days"
        )
        return reader.skip(path, what, f"measured {when.date().isoformat()}, {limit}")
    return None


def _quantity(
    reader: _Reader,
    kind: Kind,
    target: str,
    holder: Any,
    when: datetime | None,
    prefix: str,
    what: str,
) -> None:
    q = holder.valueQuantity
    if q is None:
        if getattr(holder, "dataAbsentReason", None) is not None:
            reader.skip(prefix + "dataAbsentReason", what, "no value recorded")
            return
        other = [n for n in _VALUE_NAMES if getattr(holder, n, None) is not None]
        got = f"a {other[0]}" if other else "no value"
        reader.problem(
            prefix + "valueQuantity", what, f"{kind.display} needs a valueQuantity, got {got}"
        )
        return
    value = _convert_quantity(reader, kind, q, prefix + "valueQuantity.", what)
    if value is None:
        return
    _add_value(reader, target, value, when, prefix + "valueQuantity.value", what)


_VALUE_NAMES = (
    "valueString",
    "valueCodeableConcept",
    "valueBoolean",
    "valueInteger",
    "valueRange",
    "valueRatio",
    "valueSampledData",
    "valueTime",
    "valueDateTime",
    "valuePeriod",
)


def _convert_quantity(
    reader: _Reader, kind: Kind, q: Any, prefix: str, what: str = ""
) -> float | None:
    what = what or kind.display
    if q.value is None:
        reader.problem(prefix + "value", what, "value is required")
        return None
    if q.comparator is not None:
        reader.problem(
            prefix + "comparator", what, f"a value '{q.comparator} {q.value}' cannot be graded"
        )
        return None
    if q.system != UCUM or not q.code:
        shown = q.code or q.unit
        reader.problem(
            prefix + "system",
            what,
            f"the unit must be a UCUM code (system {UCUM}) such as"
            f" {_unit_list(kind)}; got {shown!r}"
            + (f" with system {q.system!r}" if q.system else ""),
        )
        return None
    factor = kind.units.get(q.code)
    if factor is None:
        reader.problem(
            prefix + "code",
            what,
            f"unknown unit {q.code!r} for {kind.display.lower()}; expected {_unit_list(kind)}",
        )
        return None
    return (float(Decimal(q.value)) + kind.offsets.get(q.code, 0.0)) * factor


def _unit_list(kind: Kind) -> str:
    return ", ".join(repr(u) for u in kind.units)


def _add_value(
    reader: _Reader,
    target: str,
    value: float,
    when: datetime | None,
    path: str,
    what: str = "",
    days: int | None = None,
) -> None:
    spec = NUMERIC_FIELDS[target]
    value = round(value, DECIMALS) + 0.0
    what = what or spec.label
    if not spec.low <= value <= spec.high:
        reader.problem(
            path,
            what,
            f"{spec.label} {value:g} {spec.unit} is outside the plausible range"
            f" {spec.low:g} to {spec.high:g} {spec.unit}",
        )
        return
    candidate = _Candidate(value, when, reader.next_order(), path)
    if target != "baseline_weight_kg":  # a baseline is old by nature: no window
        kind = KIND_OF_FIELD.get(target)
        window = days if days is not None else kind.window_days if kind else SYMPTOM_DAYS
        candidate.skip = _current(reader, when, window, path, what)
        if target == "weight_kg" and when is not None:
            reader.weights.append(candidate)  # history: the baseline may come from it
        if candidate.skip is not None:
            return
    reader.values.setdefault(target, []).append(candidate)


# -- questionnaire responses -------------------------------------------------------------


def _read_questionnaire_response(reader: _Reader, qr: Any, prefix: str) -> None:
    canonical = (qr.questionnaire or "").split("|")[0]
    if canonical != QUESTIONNAIRE_URL:
        reader.error(
            prefix + "questionnaire",
            f"must be {QUESTIONNAIRE_URL!r} (the questionnaire `ktriage fhir questionnaire`"
            f" prints), got {qr.questionnaire!r}",
        )
        return
    if qr.status in IGNORED_STATUS:
        reader.skip(prefix + "status", "QuestionnaireResponse", f"status {qr.status}: not a report")
        return
    when = _when(qr.authored) if qr.authored is not None else None
    if when is None and not prefix:
        when = reader.now  # a lone response handed in without a date: answered now
    if _current(reader, when, SYMPTOM_DAYS, prefix + "authored", "QuestionnaireResponse"):
        return
    _subject(reader, qr, prefix)
    for i, item in enumerate(qr.item or []):
        _read_item(reader, item, when, f"{prefix}item.{i}.", top=True)


def _read_item(reader: _Reader, item: Any, when: datetime | None, prefix: str, top: bool) -> None:
    link = item.linkId
    if link == "symptom":
        _read_symptom(reader, item, prefix)
        return
    if link in ("measurements", "treatment"):
        if item.answer:
            reader.error(prefix + "answer", f"the group {link!r} takes items, not answers")
        for j, child in enumerate(item.item or []):
            if not str(child.linkId).startswith(link + "."):
                _unknown_question(reader, child.linkId, f"{prefix}item.{j}.linkId")
                continue
            _read_item(reader, child, when, f"{prefix}item.{j}.", top=False)
        return
    answer = _single_answer(reader, item, prefix)
    if answer is None:
        return
    apath = prefix + "answer.0."
    if link == "age_years" and top:
        number = _number_answer(reader, answer, apath, None)
        if number is not None:
            reader.ages.append(_Candidate(number, when, reader.next_order(), apath))
        return
    name = link.partition(".")[2]
    if link.startswith("measurements.") and name in MEASUREMENT_FIELDS:
        kind = KIND_OF_FIELD.get(name) or KIND_OF_FIELD["weight_kg"]  # baseline: weight units
        number = _number_answer(reader, answer, apath, kind)
        if number is not None:
            _add_value(reader, name, number, when, apath.rstrip("."))
        return
    if link == "treatment.hours_since_dose":
        number = _number_answer(reader, answer, apath, None)
        if number is not None:
            reader.treatment.setdefault("hours_since_dose", []).append(
                _Candidate(number, when, reader.next_order(), apath)
            )
        return
    if link == "treatment.route":
        code = _coding_answer(reader, answer, apath, ROUTE_SYSTEM, [r.value for r in Route])
        if code is not None:
            reader.treatment.setdefault("route", []).append(
                _Candidate(code, when, reader.next_order(), apath)
            )
        return
    _unknown_question(reader, link, prefix + "linkId")


def _unknown_question(reader: _Reader, link: str, path: str) -> None:
    reader.error(path, f"unknown question {link!r}: not in the ktriage symptom questionnaire")


def _single_answer(reader: _Reader, item: Any, prefix: str) -> Any:
    answers = item.answer or []
    if item.item:
        reader.error(prefix + "item", f"question {item.linkId!r} takes answers, not items")
        return None
    if not answers:
        return None  # asked, not answered
    if len(answers) > 1:
        reader.error(prefix + "answer", f"question {item.linkId!r} takes one answer")
        return None
    return answers[0]


def _number_answer(reader: _Reader, answer: Any, prefix: str, kind: Kind | None) -> float | None:
    if answer.valueDecimal is not None:
        return float(answer.valueDecimal)
    if answer.valueInteger is not None:
        return float(answer.valueInteger)
    if answer.valueQuantity is not None and kind is not None:
        return _convert_quantity(reader, kind, answer.valueQuantity, prefix + "valueQuantity.")
    reader.error(prefix.rstrip("."), "expected a number (valueDecimal or valueInteger)")
    return None


def _coding_answer(
    reader: _Reader, answer: Any, prefix: str, system: str, codes: list[str]
) -> str | None:
    coding = answer.valueCoding
    if coding is None:
        reader.error(prefix.rstrip("."), "expected a valueCoding from the questionnaire's options")
        return None
    if coding.system != system:
        reader.error(prefix + "valueCoding.system", f"must be {system!r}, got {coding.system!r}")
        return None
    if coding.code not in codes:
        hint = suggest(str(coding.code), codes)
        reader.error(
            prefix + "valueCoding.code",
            f"unknown code {coding.code!r}" + (f"; did you mean {hint!r}?" if hint else ""),
        )
        return None
    return coding.code


def _read_symptom(reader: _Reader, group: Any, prefix: str) -> None:
    if group.answer:
        reader.error(prefix + "answer", "the group 'symptom' takes items, not answers")
        return
    symptom: dict[str, Any] = {}
    names: list[tuple[str, str]] = []
    before = len(reader.errors)
    for j, child in enumerate(group.item or []):
        cpath = f"{prefix}item.{j}."
        link = child.linkId
        answer = _single_answer(reader, child, cpath)
        if answer is None:
            continue
        apath = cpath + "answer.0."
        if link == "symptom.code":
            code = _coding_answer(
                reader, answer, apath, SYMPTOM_SYSTEM, list(reader.vocabulary.terms)
            )
            if code is not None:
                names.append((code, apath))
        elif link == "symptom.text":
            if answer.valueString is None or not answer.valueString.strip():
                reader.error(apath.rstrip("."), "expected the symptom in words (valueString)")
            else:
                names.append((answer.valueString.strip(), apath))
        elif link == "symptom.severity":
            code = _coding_answer(
                reader, answer, apath, SEVERITY_SYSTEM, [s.value for s in Severity]
            )
            if code is not None:
                symptom["severity"] = code
        elif link == "symptom.days":
            number = _number_answer(reader, answer, apath, None)
            if number is not None:
                symptom["days"] = number
        elif link in {f"symptom.{b}" for b in SYMPTOM_BOOLEANS}:
            if answer.valueBoolean is None:
                reader.error(apath.rstrip("."), "expected true or false (valueBoolean)")
            else:
                symptom[link.partition(".")[2]] = answer.valueBoolean
        else:
            _unknown_question(reader, link, cpath + "linkId")
    if len(reader.errors) > before:
        return
    if not names:
        if symptom:
            reader.error(prefix + "item", "a symptom needs symptom.code or symptom.text")
        return
    if len(names) > 1:
        reader.error(
            names[1][1].rstrip("."),
            "give one symptom per group: either symptom.code or symptom.text",
        )
        return
    symptom["name"] = names[0][0]
    reader.symptoms.append(symptom)


# -- the Report --------------------------------------------------------------------------


def _latest(candidates: list[_Candidate]) -> _Candidate:
    def key(c: _Candidate) -> tuple[bool, datetime, int]:
        return (c.when is not None, c.when or datetime.min.replace(tzinfo=UTC), c.order)

    return max(candidates, key=key)


def _assemble(reader: _Reader) -> tuple[dict[str, Any], dict[str, datetime | None]]:
    report: dict[str, Any] = {}
    patient = reader.expected_patient or next(iter(reader.patients), None)
    if patient is not None and len(patient) <= 128:
        report["patient_id"] = patient
    if reader.ages:
        report["age_years"] = _latest(reader.ages).value
    if reader.symptoms:
        report["symptoms"] = reader.symptoms
    chosen = {name: _latest(c) for name, c in reader.values.items()}
    baseline = _baseline_from_history(reader, chosen)
    if baseline is not None:
        chosen["baseline_weight_kg"] = baseline
    if chosen:
        report["measurements"] = {name: c.value for name, c in chosen.items()}
    treatment: dict[str, Any] = {}
    if "route" in reader.treatment:
        treatment["route"] = _latest(reader.treatment["route"]).value
    if "hours_since_dose" in reader.treatment:
        treatment["hours_since_dose"] = _latest(reader.treatment["hours_since_dose"]).value
    if treatment:
        report["treatment"] = treatment
    return report, {name: c.when for name, c in chosen.items()}


def _baseline_from_history(reader: _Reader, chosen: dict[str, _Candidate]) -> _Candidate | None:
    """The baseline weight the record's history gives when no weight carries the baseline
    extension: the earliest dated weight, if BASELINE_MIN_DAYS to BASELINE_MAX_DAYS before
    the weight graded. A bundle of a few recent visits gives none."""
    now = chosen.get("weight_kg")
    if "baseline_weight_kg" in chosen or now is None or now.when is None:
        return None
    earliest = min(reader.weights, key=lambda c: (c.when, c.order))
    assert earliest.when is not None  # only dated weights are kept in the history
    gap = now.when - earliest.when
    if not timedelta(days=BASELINE_MIN_DAYS) <= gap <= timedelta(days=BASELINE_MAX_DAYS):
        return None
    if earliest.skip is not None:  # too old to grade as today's weight, not as a baseline
        reader.skipped.remove(earliest.skip)
    return earliest


# -- helpers -----------------------------------------------------------------------------


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = str(value)
    m = re.fullmatch(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", text)
    if m:
        return datetime(int(m[1]), int(m[2] or 1), int(m[3] or 1), tzinfo=UTC)
    try:
        return _utc(datetime.fromisoformat(text))
    except ValueError:
        return None


def _where(path: str) -> str:
    """The entry a path is in, as a person finds it: ``entry.14`` (``input`` for a lone
    resource), with the component for a blood pressure value."""
    path = path.rstrip(".")
    m = re.match(r"(entry\.\d+)(?:\.resource)?(?:\.(component\.\d+))?", path)
    if m:
        return m[1] + (f".{m[2]}" if m[2] else "")
    m = re.match(r"component\.\d+", path)
    return m[0] if m else "input"


def _urn_key(full_url: str) -> str:
    return full_url.removeprefix("urn:uuid:")


def _patient_key(reader: _Reader, reference: str) -> str:
    """The patient a reference points to: an entry's fullUrl (``urn:uuid:`` or absolute),
    or a relative, absolute or versioned ``Patient/id``."""
    if reference in reader.full_urls:
        return reader.full_urls[reference]
    if reference.startswith("urn:uuid:"):
        return _urn_key(reference)
    m = PATIENT_REF.search(reference)
    return m.group(1) if m else reference


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _concept_text(concept: Any) -> str:
    if concept is None:
        return "no code"
    if concept.coding:
        return ", ".join(f"{c.system or '?'}|{c.code or '?'}" for c in concept.coding)
    return "no coding" if not concept.text else "text only, no coding"
