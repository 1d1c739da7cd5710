"""Building a Report from what staff type: command-line flags, and the guided phone intake.

The intake is a conversation held by a generator: it yields a ``Question``, receives the
answer as typed, and returns an ``Outcome`` holding a valid ``Report``. All the judgement
(the order of questions, parsing answers, asking again) lives here; a front end only
shows the question and reads a line. Red-flag questions come first, as telephone-triage
protocols ask them, and come from the pack's vocabulary (terms with ``red_flag: true``),
never from a list of names written in code.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any

from .engine.errors import FieldError, InvalidReport
from .engine.intake import parse_report
from .engine.models import NUMERIC_FIELDS, Report, Route, Severity
from .engine.reader import Reader, TextReading
from .engine.units import (
    glucose_hint,
    is_bare_number,
    read_days,
    read_glucose_mg_dl,
    read_mass_kg,
    read_route,
)
from .engine.vocabulary import Term

MAX_NAME = 200  # Symptom.name's limit
MAX_SYMPTOMS = 100  # the Report contract's limit

_YES = {"y", "yes", "yeah", "yep", "true", "1"}
_NO = {"n", "no", "nope", "false", "0"}
_SEVERITY_WORDS = {
    "1": Severity.MILD,
    "2": Severity.MODERATE,
    "3": Severity.SEVERE,
    **{s.value: s for s in Severity},
}


# -- parsing one typed value ---------------------------------------------------------------


def parse_yes_no(text: str) -> bool:
    word = text.strip().casefold()
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise ValueError("please answer yes or no")


def parse_severity(text: str) -> Severity:
    word = text.strip().casefold()
    if word in _SEVERITY_WORDS:
        return _SEVERITY_WORDS[word]
    raise ValueError(f"severity must be mild, moderate or severe (or 1, 2, 3), got {text!r}")


def parse_days(text: str) -> float:
    """A duration in days: ``3``, ``2 weeks``, ``12 hours``, ``a few days``, ``yesterday``,
    ``since Monday`` (``parse_days_noted`` also says how words were read)."""
    return parse_days_noted(text)[0]


def parse_days_noted(text: str) -> tuple[float, str | None]:
    days, note = read_days(text)
    return _in_range("days", days), note


def parse_weight(field: str, text: str) -> float:
    """A weight in kg: ``80``, ``80kg``, ``176lb``, ``12st 4lb``."""
    return _in_range(field, read_mass_kg(text))


def parse_glucose(text: str) -> float:
    """Glucose in mg/dL: ``99``, ``99mg/dL``, ``5.5mmol/L``; a bare number is mg/dL, and
    one only plausible in mmol/L is refused with a hint rather than guessed."""
    value = read_glucose_mg_dl(text)
    try:
        return _in_range("fasting_glucose_mg_dl", value)
    except ValueError as exc:
        hint = glucose_hint(value) if is_bare_number(text) else None
        raise ValueError(f"{exc}; {hint}" if hint else str(exc)) from None


def parse_number(field: str, text: str) -> float:
    """A measurement typed by a person, checked against the range a real value can take."""
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"must be a number, got {text!r}") from None
    return _in_range(field, value)


def parse_blood_pressure(text: str) -> tuple[float, float]:
    """``150/95`` as (systolic, diastolic)."""
    top, sep, bottom = text.strip().partition("/")
    if not sep:
        raise ValueError(f"expected SYSTOLIC/DIASTOLIC such as 150/95, got {text!r}")
    systolic = parse_number("systolic_bp", top)
    diastolic = parse_number("diastolic_bp", bottom)
    if diastolic >= systolic:
        raise ValueError(
            f"the second number (diastolic, {diastolic:g}) must be lower than the first"
            f" (systolic, {systolic:g}); were they swapped?"
        )
    return systolic, diastolic


def parse_route(text: str) -> Route:
    """A route by its name or as staff say it: ``spray``, ``IV drip``, ``infusion``."""
    return read_route(text)


def parse_symptom(text: str, notes: list[str] | None = None) -> dict[str, Any]:
    """``NAME[:SEVERITY[:DAYS]]`` as a symptom of a report (the name may be a lay word);
    how words in DAYS were read is added to ``notes``."""
    name, _, rest = text.partition(":")
    severity, _, days = rest.partition(":")
    if not name.strip():
        raise ValueError(f"{text!r}: a symptom needs a name, e.g. tired:mild:3")
    out: dict[str, Any] = {"name": name.strip()}
    try:
        if severity.strip():
            out["severity"] = parse_severity(severity).value
        if days.strip():
            out["days"], note = parse_days_noted(days)
            if note is not None and notes is not None:
                notes.append(f"{name.strip()!r}: {note}")
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None
    return out


def _in_range(field: str, value: float) -> float:
    f = NUMERIC_FIELDS[field]
    if not f.low <= value <= f.high:
        raise ValueError(f"must be between {f.low:g} and {f.high:g} {f.unit} (got {value:g})")
    return value


# -- a report from command-line options ----------------------------------------------------


def report_from_options(
    *,
    symptoms: Iterable[str] = (),
    weight: str | float | None = None,
    baseline_weight: str | float | None = None,
    bp: str | None = None,
    heart_rate: float | None = None,
    respiratory_rate: float | None = None,
    spo2: float | None = None,
    temperature: float | None = None,
    glucose: str | float | None = None,
    route: str | None = None,
    hours_since_dose: float | None = None,
    age: float | None = None,
    patient_id: str | None = None,
    notes: list[str] | None = None,
) -> Report:
    """The Report that ``ktriage check``'s flags describe.

    Raises ``InvalidReport``: an error in a flag's own syntax names the flag (``--bp``);
    a value out of range names the report field it fills (``measurements.weight_kg``).
    Weight and glucose may carry a unit (``176lb``, ``5.5mmol/L``); how words were read
    (``a few days``) is added to ``notes``.
    """
    errors: list[FieldError] = []
    parsed_symptoms = []
    for spec in symptoms:
        try:
            parsed_symptoms.append(parse_symptom(spec, notes))
        except ValueError as exc:
            errors.append(FieldError("--symptom", str(exc)))
    measurements: dict[str, float] = {}
    for flag, field, given, read in (
        ("--weight", "weight_kg", weight, read_mass_kg),
        ("--baseline-weight", "baseline_weight_kg", baseline_weight, read_mass_kg),
        ("--glucose", "fasting_glucose_mg_dl", glucose, read_glucose_mg_dl),
    ):
        if isinstance(given, str):
            try:
                measurements[field] = read(given)  # out of range: the report field says so
            except ValueError as exc:
                errors.append(FieldError(flag, str(exc)))
        elif given is not None:
            measurements[field] = float(given)
    for field, value in (
        ("heart_rate", heart_rate),
        ("respiratory_rate", respiratory_rate),
        ("oxygen_saturation_pct", spo2),
        ("temperature_c", temperature),
    ):
        if value is not None:
            measurements[field] = float(value)
    if bp is not None:
        try:
            measurements["systolic_bp"], measurements["diastolic_bp"] = parse_blood_pressure(bp)
        except ValueError as exc:
            errors.append(FieldError("--bp", str(exc)))
    treatment: dict[str, Any] = {}
    if route is not None:
        try:
            treatment["route"] = parse_route(route).value
        except ValueError as exc:
            errors.append(FieldError("--route", str(exc)))
    if hours_since_dose is not None:
        treatment["hours_since_dose"] = float(hours_since_dose)
    data = report_data(parsed_symptoms, measurements, treatment, patient_id, age)
    if errors:
        raise InvalidReport(errors, data)
    return parse_report(data)


def report_data(
    symptoms: list[dict[str, Any]],
    measurements: dict[str, float],
    treatment: dict[str, Any],
    patient_id: str | None,
    age_years: float | None = None,
) -> dict[str, Any]:
    """A report's JSON from what was gathered, leaving out the parts with nothing in them."""
    data: dict[str, Any] = {"symptoms": symptoms}
    if patient_id is not None:
        data["patient_id"] = patient_id
    if age_years is not None:
        data["age_years"] = float(age_years)
    if measurements:
        data["measurements"] = measurements
    if treatment:
        data["treatment"] = treatment
    return data


# -- the guided intake ---------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    """One thing to ask. ``problem`` says why the previous answer was not taken."""

    key: str
    text: str
    default: str | None = None
    problem: str | None = None
    note: str | None = None  # how the previous answer was read, when words were read


@dataclass(frozen=True)
class Outcome:
    report: Report
    red_flag: str | None = None  # the code of the red flag that ended the interview early

    @property
    def ended_early(self) -> bool:
        return self.red_flag is not None


# (report field, question) in the order they are asked; blood pressure is asked as one.
_MEASUREMENT_QUESTIONS = (
    ("weight_kg", "Weight now, in kg (or 176lb, 12st 4lb)"),
    ("baseline_weight_kg", "Weight before treatment started (baseline), in kg (or lb, st)"),
    ("blood_pressure", "Blood pressure as SYSTOLIC/DIASTOLIC, e.g. 150/95"),
    ("heart_rate", "Heart rate, beats per minute"),
    ("respiratory_rate", "Breathing rate, breaths per minute"),
    ("oxygen_saturation_pct", "Oxygen saturation (SpO2), %"),
    ("temperature_c", "Temperature, °C"),
    ("fasting_glucose_mg_dl", "Fasting glucose, mg/dL (or 5.5mmol/L)"),
    ("age_years", "Age, in years"),
)
_SKIP = " (blank to skip)"
_MEASUREMENT_PARSERS = {
    "weight_kg": parse_weight,
    "baseline_weight_kg": parse_weight,
    "fasting_glucose_mg_dl": lambda field, text: parse_glucose(text),
}
# How bad a symptom is, in words that fit it: fatigue has its own grades (CTCAE), other
# symptoms are asked about by how much they get in the way. The desk page shows the same.
SEVERITY_WORDS: dict[str, dict[Severity, str]] = {
    "fatigue": {
        Severity.MILD: "relieved by rest",
        Severity.MODERATE: "limits daily activities",
        Severity.SEVERE: "stops them looking after themselves",
    },
}
SEVERITY_WORDS_ANY: dict[Severity, str] = {
    Severity.MILD: "noticeable, not in the way",
    Severity.MODERATE: "gets in the way of what they do",
    Severity.SEVERE: "the worst they have had, or they cannot carry on",
}


def severity_help(code: str | None) -> str:
    """The three grades in words that fit the symptom ``code`` (any symptom when None)."""
    words = SEVERITY_WORDS.get(code or "", SEVERITY_WORDS_ANY)
    mild, moderate, severe = (f"{s.value} ({words[s]})" for s in Severity)
    return f"{mild}, {moderate} or {severe}"


Conversation = Generator[Question, str, Outcome]


class Interview:
    """The questions of the phone intake for one rule pack's vocabulary."""

    def __init__(self, reader: Reader, *, patient_id: str | None = None) -> None:
        self.reader = reader
        self.vocabulary = reader.vocabulary
        self.patient_id = patient_id
        self._note: str | None = None

    def red_flags(self) -> list[Term]:
        """The vocabulary's red-flag terms, in the order the pack lists them (the reader's
        safety-net code is not a question: it is what unclear words become)."""
        return [
            t
            for t in self.vocabulary.terms.values()
            if t.red_flag and t.code != self.reader.safety_net
        ]

    def red_flag_in(self, reading: TextReading) -> Term | None:
        """The red flag a typed symptom holds (or the safety net's, when it may hold one)."""
        for found in reading.found:
            term = self.vocabulary.terms[found.code]
            if term.red_flag:
                return term
        if reading.possible_red_flag is not None and self.reader.safety_net is not None:
            return self.vocabulary.terms[self.reader.safety_net]
        return None

    def red_flag_question(self, term: Term) -> str:
        words = ", ".join(term.synonyms[:3])
        examples = f" (for example: {words})" if words else ""
        return f"RED FLAG: is the caller reporting {term.label.lower()}{examples}? [y/n]"

    def run(self) -> Conversation:
        """The conversation: send each answer in, get the next question out."""
        for term in self.red_flags():
            if (yield from self._yes_no(f"red_flag.{term.code}", self.red_flag_question(term))):
                return self._finish([{"name": term.label}], {}, {}, term)
        symptoms: list[dict[str, Any]] = []
        while len(symptoms) < MAX_SYMPTOMS:
            name = yield from self._symptom_name(len(symptoms) + 1)
            if name is None:
                break
            reading = self.reader.read(name)
            flag = self.red_flag_in(reading)
            if flag is not None:
                # a red flag in the caller's words ends the intake at once, as a yes does
                symptoms.append({"name": name})
                return self._finish(symptoms, {}, {}, flag)
            symptom: dict[str, Any] = {"name": name}
            if not reading.found:  # only absent symptoms, or kept unrecognised
                symptoms.append(symptom)
                continue
            read_as = ", ".join(self.vocabulary.label(f.code).lower() for f in reading.found)
            help_text = severity_help(reading.found[0].code)
            default = "severe" if any(f.severe for f in reading.found) else "moderate"
            symptom["severity"] = (
                yield from self._ask(
                    "severity",
                    f"Read as: {read_as}. How bad is it: {help_text}? [{default}]",
                    parse_severity,
                    default,
                )
            ).value
            ask = f"For how long has {name!r} lasted (3, two weeks, since Monday)?" + _SKIP
            days = yield from self._ask("days", ask, parse_days_noted, "")
            if days is not None:
                symptom["days"], self._note = days
            symptoms.append(symptom)
        measurements: dict[str, float] = {}
        age: float | None = None
        ask = (
            "Any measurements to add (weight, blood pressure, heart rate, breathing rate,"
            " SpO2, temperature, glucose, age)? [y/N]"
        )
        if (yield from self._yes_no("measurements", ask, "n")):
            for field, text in _MEASUREMENT_QUESTIONS:
                if field == "blood_pressure":
                    bp = yield from self._ask(field, text + _SKIP, parse_blood_pressure, "")
                    if bp is not None:
                        measurements["systolic_bp"], measurements["diastolic_bp"] = bp
                    continue
                parse = _MEASUREMENT_PARSERS.get(field, parse_number)
                value = yield from self._ask(
                    field, text + _SKIP, lambda t, f=field, p=parse: p(f, t), ""
                )
                if value is not None and field == "age_years":
                    age = value
                elif value is not None:
                    measurements[field] = value
        treatment: dict[str, Any] = {}
        ask = "Add treatment details (route, hours since the last dose)? [y/N]"
        if (yield from self._yes_no("treatment", ask, "n")):
            routes = ", ".join(r.value.replace("_", " ") for r in Route)
            ask = f"Route: {routes} (or spray, IV drip, infusion, injection)" + _SKIP
            route = yield from self._ask("route", ask, parse_route, "")
            if route is not None:
                treatment["route"] = route.value
            hours = yield from self._ask(
                "hours_since_dose",
                "Hours since the last dose" + _SKIP,
                lambda t: parse_number("hours_since_dose", t),
                "",
            )
            if hours is not None:
                treatment["hours_since_dose"] = hours
        return self._finish(symptoms, measurements, treatment, None, age)

    # -- the steps ------------------------------------------------------------------------

    def _ask(self, key: str, text: str, parse: Any, default: str | None) -> Any:
        """Ask until ``parse`` accepts the answer; a blank answer with default "" is None."""
        problem = None
        while True:
            answer = yield self._question(key, text, default or None, problem)
            answer = answer.strip() or (default or "")
            if not answer and default == "":
                return None
            try:
                return parse(answer)
            except ValueError as exc:
                problem = str(exc)

    def _question(self, key: str, text: str, default: str | None, problem: str | None) -> Question:
        """The next question, carrying how the previous answer was read (once)."""
        note, self._note = self._note, None
        return Question(key, text, default, problem, note)

    def _yes_no(self, key: str, text: str, default: str | None = None) -> Any:
        return (yield from self._ask(key, text, parse_yes_no, default))

    def _symptom_name(self, n: int) -> Any:
        """A symptom name the pack knows, or one staff chose to keep unrecognised."""
        problem = None
        while True:
            text = f"Symptom {n}, in the caller's words (blank when there are no more)"
            name = (yield self._question("symptom", text, None, problem)).strip()
            problem = None
            if not name:
                return None
            if len(name) > MAX_NAME:
                problem = (
                    f"That is too long (at most {MAX_NAME} characters); say it in fewer words."
                )
                continue
            reading = self.reader.read(name)
            if (
                reading.found
                or reading.absent
                or reading.possible_red_flag is not None
                or reading.values
            ):
                return name  # read (a part left over is listed as unrecognised)
            hint = self.vocabulary.suggest(name)
            if hint is not None:
                ask = f"{name!r} is not a known symptom. Did you mean {hint!r}? [y/n]"
                if (yield from self._yes_no("suggestion", ask)):
                    return hint
            ask = (
                f"Keep {name!r} as a symptom the rule pack does not recognise"
                " (a clinician will read it)? [y/n]"
            )
            if (yield from self._yes_no("keep_unrecognised", ask)):
                return name
            problem = "Then type the symptom again, in other words."

    def _finish(
        self,
        symptoms: list[dict[str, Any]],
        measurements: dict[str, float],
        treatment: dict[str, Any],
        red_flag: Term | None,
        age_years: float | None = None,
    ) -> Outcome:
        data = report_data(symptoms, measurements, treatment, self.patient_id, age_years)
        return Outcome(parse_report(data), red_flag.code if red_flag else None)


def answer_all(conversation: Conversation, answers: Iterable[str]) -> Outcome:
    """Hold a whole conversation with scripted answers (for tests and scripted intake).

    Raises ``ValueError`` when the answers run out before the interview ends.
    """
    it = iter(answers)
    question = next(conversation)
    while True:
        try:
            answer = next(it)
        except StopIteration:
            raise ValueError(f"no answer left for question {question.key!r}") from None
        try:
            question = conversation.send(answer)
        except StopIteration as done:
            return done.value
