"""Values as people give them: "176lb", "12st 4lb", "5.5 mmol/L", "two weeks", "IV drip".

Masses and glucose go through pint (a units library), loaded only when a value carries a
unit: importing it and building its registry costs about half a second, which a bare
number never pays. Durations and routes are words more than units ("a few days", "since
Monday", "spray"), so they are read here; where words allow two readings, the longer
duration is taken (a symptom that has lasted longer is never graded lower) and said.

Every reader raises ``UnitError`` (a ``ValueError``) with a message that fits after the
field's name: ``--weight: unknown unit 'lbz' (give kg, lb or st)``.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from typing import Any

from .models import NUMERIC_FIELDS, Route

# molar mass of glucose, g/mol: mmol/L x 180.156 / 10 = mg/dL
GLUCOSE_G_PER_MOL = 180.156

_NUMBER = r"(\d+(?:\.\d+)?|\.\d+)"
_AMOUNT = re.compile(_NUMBER + r"\s*([^\d\s][^\d]*?)?\s*(?=\d|$)")
_BARE = re.compile(r"^\s*[-+]?" + _NUMBER + r"\s*$")
# words pint reads otherwise ("kilos" would be kiloseconds) or not at all
_ALIASES = {
    "kilo": "kg",
    "kilos": "kg",
    "kgs": "kg",
    "kilogram": "kg",
    "kilograms": "kg",
    "st": "stone",
    "mmol": "mmol/L",
    "mg": "mg/dL",
}


class UnitError(ValueError):
    """A value whose unit or words could not be read; the message names the problem."""


def is_bare_number(text: str) -> bool:
    return _BARE.match(text) is not None


@functools.cache
def _registry() -> Any:
    import pint  # about 0.2 s to import and 0.3 s to build: only when a unit is given

    return pint.UnitRegistry()


def _amounts(text: str, what: str, units: str) -> list[tuple[float, str]]:
    """``12st 4lb`` as [(12, 'st'), (4, 'lb')]; each unit as typed, '' when none."""
    cleaned = text.strip()
    parts: list[tuple[float, str]] = []
    pos = 0
    while pos < len(cleaned):
        match = _AMOUNT.match(cleaned, pos)
        if match is None or match.end() == pos:
            raise UnitError(f"cannot read {text!r} as {what} (give a number and {units})")
        parts.append((float(match.group(1)), (match.group(2) or "").strip().rstrip(".,")))
        pos = match.end()
        while pos < len(cleaned) and cleaned[pos] in " ,":
            pos += 1
    if not parts:
        raise UnitError(f"cannot read {text!r} as {what} (give a number and {units})")
    return parts


def _quantity(value: float, unit: str, dimension: str, text: str, units: str) -> Any:
    registry = _registry()
    name = _ALIASES.get(unit.casefold(), unit)
    try:
        quantity = registry.Quantity(value, name)
    except Exception:  # pint's errors for an unknown or malformed unit
        try:
            quantity = registry.Quantity(value, name.casefold())
        except Exception:
            raise UnitError(f"unknown unit {unit!r} in {text!r} (give {units})") from None
    if quantity.dimensionality != registry.get_dimensionality(dimension):
        raise UnitError(f"{unit!r} in {text!r} is not a unit of {units}")
    return quantity


def read_mass_kg(text: str) -> float:
    """A body weight in kg: ``80``, ``80kg``, ``176 lb``, ``12st 4lb``, ``12 stone``."""
    units = "kg, lb or st"
    parts = _amounts(text, "a weight", units)
    if len(parts) == 1 and not parts[0][1]:
        return parts[0][0]  # a bare number is kg, as the field says
    if not parts[0][1]:
        raise UnitError(f"cannot read {text!r} as a weight (give a unit after {parts[0][0]:g})")
    total = 0.0
    for i, (value, unit) in enumerate(parts):
        if not unit:  # "12st 4": the second number takes the smaller unit, pounds
            if i == 0 or parts[0][1].casefold() not in ("st", "stone", "stones"):
                raise UnitError(f"cannot read {text!r} as a weight (give a unit after {value:g})")
            unit = "lb"
        total += _quantity(value, unit, "[mass]", text, units).to("kilogram").magnitude
    return round(total, 2)


def read_glucose_mg_dl(text: str) -> float:
    """Glucose in mg/dL: ``99``, ``99 mg/dL``, ``5.5 mmol/L`` (converted, 180.156 g/mol)."""
    units = "mg/dL or mmol/L"
    parts = _amounts(text, "a glucose value", units)
    if len(parts) != 1:
        raise UnitError(f"cannot read {text!r} as a glucose value (give one number and {units})")
    value, unit = parts[0]
    if not unit:
        return value
    registry = _registry()
    name = _ALIASES.get(unit.casefold(), unit)
    try:
        quantity = registry.Quantity(value, name)
    except Exception:
        raise UnitError(f"unknown unit {unit!r} in {text!r} (give {units})") from None
    if quantity.dimensionality == registry.get_dimensionality("[substance]/[volume]"):
        quantity = quantity * registry.Quantity(GLUCOSE_G_PER_MOL, "g/mol")
    if quantity.dimensionality != registry.get_dimensionality("[mass]/[volume]"):
        raise UnitError(f"{unit!r} in {text!r} is not a unit of glucose ({units})")
    return round(quantity.to("mg/dL").magnitude, 1)


def glucose_hint(value: float) -> str | None:
    """For a bare number below the mg/dL range that is a plausible mmol/L value."""
    f = NUMERIC_FIELDS["fasting_glucose_mg_dl"]
    if 1 <= value < f.low:
        mg = round(value * GLUCOSE_G_PER_MOL / 10)
        return f"if it is mmol/L, give the unit: {value:g} mmol/L (= {mg} mg/dL)"
    return None


# -- durations -----------------------------------------------------------------------------

_NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "a couple of": 2,
    "a couple": 2,
    "couple of": 2,
    # vague amounts: the longer of their usual readings, stated
    "a few": 4,
    "few": 4,
    "several": 7,
}
_TIME_UNITS = {
    "h": 1 / 24,
    "hr": 1 / 24,
    "hrs": 1 / 24,
    "hour": 1 / 24,
    "hours": 1 / 24,
    "d": 1.0,
    "day": 1.0,
    "days": 1.0,
    "night": 1.0,
    "nights": 1.0,
    "w": 7.0,
    "wk": 7.0,
    "wks": 7.0,
    "week": 7.0,
    "weeks": 7.0,
    "fortnight": 14.0,
    "month": 31.0,
    "months": 31.0,
}
_VAGUE = {"a few", "few", "several"}
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_DURATION = re.compile(
    r"^\s*(?:for\s+)?(?:about\s+|around\s+|over\s+|nearly\s+|almost\s+)?"
    r"("
    + "|".join(sorted((re.escape(w) for w in _NUMBER_WORDS), key=len, reverse=True))
    + r"|\d+(?:\.\d+)?|\.\d+)\s*"
    r"(" + "|".join(sorted(_TIME_UNITS, key=len, reverse=True)) + r")?\.?"
    r"(?:\s+(?:now|ago|or so))?\s*$",
    re.I,
)


def read_days(text: str, today: dt.date | None = None) -> tuple[float, str | None]:
    """A duration in days, and a note when words were read (``None`` for ``3`` or
    ``3 days``): ``2 weeks``, ``12 hours``, ``two weeks``, ``a few days``, ``yesterday``,
    ``since Monday``, ``since yesterday``."""
    said = " ".join(text.split()).casefold()
    if not said:
        raise UnitError("expected a number of days such as 3 or '2 weeks', got ''")
    today = today or dt.date.today()
    word = said.removeprefix("since ").removeprefix("from ")
    if word in ("today", "this morning", "tonight", "this afternoon", "this evening"):
        return 0.0, f"read {text.strip()!r} as 0 days (today)"
    if word in ("yesterday", "last night"):
        return 1.0, f"read {text.strip()!r} as 1 day"
    if word.removeprefix("last ") in _WEEKDAYS:
        back = (today.weekday() - _WEEKDAYS.index(word.removeprefix("last "))) % 7 or 7
        today_is = _WEEKDAYS[today.weekday()].capitalize()
        why = f"today is {today_is}" + (": a week ago, the longer reading" if back == 7 else "")
        return float(back), f"read {text.strip()!r} as {back} days ({why})"
    match = _DURATION.match(said)
    if not match:
        raise UnitError(
            f"expected a number of days such as 3, '2 weeks', 'a few days', 'yesterday' or"
            f" 'since Monday', got {text.strip()!r}"
        )
    amount, unit = match.group(1), (match.group(2) or "d")
    if amount[0].isdigit() or amount[0] == ".":
        number = float(amount)
    else:
        number = float(_NUMBER_WORDS[amount])
    days = round(number * _TIME_UNITS[unit], 2)
    if amount in _VAGUE:
        return days, f"read {text.strip()!r} as {days:g} days (the longer reading)"
    if not (amount[0].isdigit() or amount[0] == ".") or unit not in ("d", "day", "days"):
        return days, f"read {text.strip()!r} as {days:g} days"
    return days, None


# -- routes --------------------------------------------------------------------------------

_ROUTE_WORDS = {
    "spray": Route.NASAL_SPRAY,
    "nasal": Route.NASAL_SPRAY,
    "nose spray": Route.NASAL_SPRAY,
    "intranasal": Route.NASAL_SPRAY,
    "spravato": Route.NASAL_SPRAY,
    "esketamine": Route.NASAL_SPRAY,
    "intravenous": Route.IV,
    "iv drip": Route.IV,
    "drip": Route.IV,
    "infusion": Route.IV,
    "iv infusion": Route.IV,
    "injection": Route.INTRAMUSCULAR,
    "im": Route.INTRAMUSCULAR,
    "im injection": Route.INTRAMUSCULAR,
    "shot": Route.INTRAMUSCULAR,
    "jab": Route.INTRAMUSCULAR,
    "iv injection": Route.IV,
    "by mouth": Route.ORAL,
    "tablet": Route.ORAL,
    "tablets": Route.ORAL,
    "lozenge": Route.SUBLINGUAL,
    "under the tongue": Route.SUBLINGUAL,
    "troche": Route.SUBLINGUAL,
}


def read_route(text: str) -> Route:
    """A route from the contract's names or the words staff use ("spray", "IV drip")."""
    key = " ".join(text.replace("-", " ").replace("_", " ").split()).casefold()
    if key in _ROUTE_WORDS:
        return _ROUTE_WORDS[key]
    try:
        return Route(key)
    except ValueError:
        routes = ", ".join(r.value.replace("_", " ") for r in Route)
        raise UnitError(
            f"route must be one of {routes} (or spray, IV drip, infusion, injection); got {text!r}"
        ) from None
