"""Measurements typed inside symptom text: "BP 200/125 and a pounding head", "sats 87%",
"temp 39.6", "fever of 102", "sugar 2.8 and shaky", "pulse 138".

Part of reading a text (``reader.py``). A number is read as a measurement only with a
word that names it just before it ("bp", "pulse", "sats", "temp", "sugar", ...: a few
linking words such as "is", "was", "of", "at" may sit between) or a unit that names it
just after it ("mmHg", "bpm", "°F", "mmol/L", "breaths a minute"). A number that could
be something else ("8/10", "took 2", "3 days") is never read. A value outside the
plausible range of its field, or a blood pressure whose second number is not the lower,
is not read either.

Units are turned into the report's: °F to °C, mmol/L to mg/dL. A blood sugar without a
unit is read as mmol/L below 35 (no one has a glucose of 35 mg/dL and talks) and as
mg/dL from 35 up; a temperature without a unit as °F from 86 up. Every such reading is
said in the value's ``note``. Blood sugar is the report's one glucose field
(``fasting_glucose_mg_dl``, as ``--glucose`` is).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .models import MEASUREMENT_FIELDS

MG_DL_PER_MMOL_L = 18.016  # glucose, 180.16 g/mol


class TextValue(NamedTuple):
    """One measurement read in a text."""

    field: str  # a field of the report's measurements
    value: float  # in the field's unit
    matched: str  # the words as typed: "BP 200/125"
    start: int  # offsets into the text as the reader normalised it
    end: int
    note: str | None  # how a unit was read: "102 read as °F: 38.9 °C"


# linking words between the name and the number: "bp was 190/120", "fever of 102"
_LINK = (
    r"(?:\s*(?:is|was|were|are|of|at|now|about|around|approx\.?|~|=|:|-|reading|reads|read"
    r"|showing|shows|says|said|went\s+up\s+to|up\s+to|down\s+to|dropped\s+to|went\s+to"
    r"|keeps?|kept|dropping\s+to|drops\s+to|falling\s+to|falls\s+to|getting\s+to"
    r"|as\s+high\s+as|as\s+low\s+as|only|just|still|checked|measured|came\s+up|came\s+back"
    r"|this\s+morning|today|tonight))"
)
_GAP = rf"(?:{_LINK}{{0,3}}\s*)"
_NUMBER = r"(\d{1,3}(?:[.,]\d{1,2})?)"
_END = r"(?![\d.,]*\d)"  # the whole number, not its first digits

_BP_NAME = r"\b(?:bp|b/p|blood\s+pressures?|pressure)"
_BP = re.compile(
    rf"{_BP_NAME}{_GAP}(\d{{2,3}})\s*(?:/|\\|over)\s*(\d{{2,3}}){_END}(?:\s*mm\s*hg\b)?"
    rf"|\b(\d{{2,3}})\s*/\s*(\d{{2,3}})\s*mm\s*hg\b"
)
_PULSE = re.compile(
    rf"\b(?:hr|pulse(?:\s+rate)?|heart\s*rate|heart\s*beat|heartbeat|heart)\b{_GAP}"
    rf"(\d{{2,3}}){_END}(?:\s*(?:bpm|beats?(?:\s*(?:per|a|/)\s*min(?:ute)?)?)\b)?"
    rf"|\b(\d{{2,3}})\s*(?:bpm|beats\s*(?:per|a|/)\s*min(?:ute)?)\b"
)
_SPO2 = re.compile(
    r"\b(?:spo2|sp02|sao2|o2\s*sats?|o2\s*saturation|o2|sats?|saturations?|oxygen"
    r"(?:\s+(?:sats?|saturation|levels?))?|pulse\s*ox(?:imeter)?|pulse\s*oximetry)\b"
    rf"{_GAP}(\d{{2,3}}){_END}\s*%?"
)
_TEMP_UNIT = r"(?:\s*(?:°|º|deg(?:rees?)?\.?)?\s*(c|f|celsius|fahrenheit|centigrade)\b)?"
_TEMP = re.compile(
    rf"\b(?:temp(?:erature)?|fever|fevers|running\s+a\s+fever)\b{_GAP}{_NUMBER}{_END}"
    rf"{_TEMP_UNIT}"
    rf"|\b{_NUMBER}\s*(?:°|º|deg(?:rees?)?\.?)\s*(c|f|celsius|fahrenheit|centigrade)\b"
)
_BREATHING = re.compile(
    rf"\b(?:rr|resp(?:iratory|irations|s)?(?:\s+rate)?|breathing\s+rate)\b{_GAP}"
    rf"(\d{{1,2}}){_END}"
    rf"|\b(\d{{1,2}})\s*(?:breaths|br)\s*(?:/|per|a)\s*min(?:ute)?\b"
)
_GLUCOSE_UNIT = r"(?:\s*(mg\s*/?\s*dl|mmol\s*/\s*l|mmol|mmols))?"
_GLUCOSE = re.compile(
    r"\b(?:blood\s+sugars?|blood\s+glucose|sugars?|bs|bg|bgl|bm|cbg|glucose|glucometer)\b"
    rf"{_GAP}{_NUMBER}{_END}{_GLUCOSE_UNIT}"
    rf"|\b{_NUMBER}\s*(mg\s*/?\s*dl|mmol\s*/\s*l)\b"
)


def read_values(lowered: str, original: str) -> tuple[TextValue, ...]:
    """The measurements in ``lowered`` (the text as the reader normalised and lower-cased
    it, same length as ``original``), in the order they appear."""
    if not any(c.isdigit() for c in lowered):
        return ()
    found: list[TextValue] = []
    taken: list[tuple[int, int]] = []

    def add(field: str, value: float, m: re.Match[str], note: str | None = None) -> bool:
        spec = MEASUREMENT_FIELDS[field]
        if not spec.low <= value <= spec.high:
            return False
        start, end = m.span()
        if any(start < b and a < end for a, b in taken if (a, b) != (start, end)):
            return False  # the words belong to a value read before
        found.append(TextValue(field, value, original[start:end], start, end, note))
        taken.append((start, end))
        return True

    for m in _BP.finditer(lowered):
        high, low = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        systolic, diastolic = float(high), float(low)
        if systolic <= diastolic:
            continue  # "90/120" is not a blood pressure as written
        if add("systolic_bp", systolic, m):
            add("diastolic_bp", diastolic, m)
    for m in _PULSE.finditer(lowered):
        add("heart_rate", float(m.group(1) or m.group(2)), m)
    for m in _SPO2.finditer(lowered):
        add("oxygen_saturation_pct", float(m.group(1)), m)
    for m in _BREATHING.finditer(lowered):
        add("respiratory_rate", float(m.group(1) or m.group(2)), m)
    for m in _TEMP.finditer(lowered):
        number, unit = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        value = _decimal(number)
        fahrenheit = unit in ("f", "fahrenheit") or (unit is None and value >= 86)
        if fahrenheit:
            celsius = round((value - 32) * 5 / 9, 1)
            note = f"{number} read as °F: {celsius:g} °C" if unit is None else None
            add("temperature_c", celsius, m, note)
        else:
            add("temperature_c", value, m)
    for m in _GLUCOSE.finditer(lowered):
        number, unit = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        value = _decimal(number)
        mmol = (unit is not None and unit.startswith("mmol")) or (unit is None and value < 35)
        if mmol:
            mg_dl = round(value * MG_DL_PER_MMOL_L)
            note = f"{number} read as mmol/L: {mg_dl} mg/dL" if unit is None else None
            add("fasting_glucose_mg_dl", float(mg_dl), m, note)
        else:
            add("fasting_glucose_mg_dl", value, m)
    found.sort(key=lambda v: v.start)
    return tuple(found)


def _decimal(number: str) -> float:
    return float(number.replace(",", "."))
