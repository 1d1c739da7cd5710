"""The desk page in a real headless Chromium (Debian's), against a real server on 127.0.0.1.

Playwright for Python drives /usr/bin/chromium (its own browser download is never used:
``scripts/test`` installs the ``chromium`` package). The server is ``python -m
ktriage.server`` with the shipped pack, on a port the OS picks. Screenshots of the page at
desk and phone widths are written to docs/.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_server_smoke import Server

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():  # scripts/test installs it (apt-get install chromium)
    pytest.skip("needs Debian's chromium at /usr/bin/chromium", allow_module_level=True)

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DESK = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PATIENT = "pt-desk-secret-57"
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[Server, str]]:
    srv = Server("--port", "0")
    try:
        port = srv.wait_for_port()
        yield srv, f"http://127.0.0.1:{port}"
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


class Desk:
    """One page of the desk, with what it asked for and what the browser complained of."""

    def __init__(
        self, browser: Any, base: str, viewport: dict[str, int], timezone: str | None = None
    ) -> None:
        self.context = browser.new_context(viewport=viewport, timezone_id=timezone)
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.requests: list[Any] = []
        self.problems: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r))
        self.page.on(
            "console",
            lambda m: self.problems.append(m.text) if m.type in ("error", "warning") else None,
        )
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))
        self.base = base
        self.page.goto(base + "/")
        self.page.wait_for_selector("body[data-ready=true]")

    def answer_red_flags(self, yes: str | None = None) -> None:
        for code in self.page.eval_on_selector_all(
            "fieldset.rf", "sets => sets.map(s => s.dataset.code)"
        ):
            answer = "yes" if code == yes else "no"
            self.page.click(f"label[for=rf-{code}-{answer}]")

    def reading(self, row: int = 1) -> list[str]:
        return [t.strip() for t in self.page.locator(f"#sym-{row}-reading li").all_inner_texts()]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def desk(browser: Any, live: tuple[Server, str]) -> Iterator[Desk]:
    d = Desk(browser, live[1], DESK)
    yield d
    d.close()
    # the page broke no rule of its CSP, loaded nothing from elsewhere, put nothing in a URL
    assert d.problems == []
    for request in d.requests:
        assert request.url.startswith(live[1] + "/"), request.url
        assert PATIENT not in request.url
        assert "myself" not in request.url


def test_red_flag_yes_shows_the_emergency_instruction_at_once(desk: Desk) -> None:
    page = desk.page
    assert page.locator("#alert").is_hidden()
    desk.answer_red_flags(yes="chest_pain")
    alert = page.locator("#alert")
    alert.get_by_text("Staff:").wait_for()
    assert alert.locator(".alert-title").inner_text() == "EMERGENCY: Chest pain"
    assert alert.locator(".alert-label").inner_text() == "Call 911 now"
    assert page.locator("#level-banner .level-name").inner_text() == "EMERGENCY"
    # answering no again takes the banner away
    page.click("label[for=rf-chest_pain-no]")
    alert.wait_for(state="hidden")


def test_unanswered_red_flags_stop_triage(desk: Desk) -> None:
    page = desk.page
    page.fill("#sym-1", "tired")
    problem = page.locator("#rf-problem")
    page.click("label[for=rf-chest_pain-no]")
    flags = page.locator("fieldset.rf").count()
    assert flags >= 10
    page.click("#triage")
    assert problem.inner_text() == (
        f"Answer every red-flag question first: {flags - 1} not answered."
    )
    focused = page.evaluate("document.activeElement.id")
    assert focused == "rf-suicidal_thoughts-no"
    assert page.locator("#level-banner").count() == 0


def test_kill_myself_in_words_shows_the_emergency_banner(desk: Desk) -> None:
    page = desk.page
    desk.answer_red_flags()
    assert page.locator("#alert").is_hidden()
    page.locator("#sym-1").press_sequentially("I want to kill myself")
    page.locator("#alert").get_by_text("Staff:").wait_for()
    assert page.locator("#alert .alert-title").inner_text() == "EMERGENCY: Suicidal thoughts"
    assert page.locator("#alert .alert-label").inner_text() == (
        "Call 911 now, or call or text 988 for suicidal thoughts"
    )
    assert desk.reading() == ["RED FLAG Suicidal thoughts"]
    page.click("#triage")
    banner = page.locator("#level-banner")
    assert banner.locator(".level-name").inner_text() == "EMERGENCY"
    assert banner.locator(".level-summary").inner_text() == (
        "EMERGENCY: Suicidal thoughts or self-harm"
    )
    assert page.locator("#answer-body article h3").first.inner_text() == (
        "Suicidal thoughts or self-harm · Emergency"
    )


def test_typo_and_two_symptoms_are_read_live_with_the_correction(desk: Desk) -> None:
    page = desk.page
    page.locator("#sym-1").press_sequentially("tierd and dizzy")
    page.locator("#sym-1-reading li").nth(1).wait_for()
    assert desk.reading() == [
        "READ Fatigue read 'tierd' as 'tired'",
        "READ Dizziness",
    ]
    # the severity words fit the first symptom read (fatigue's own grades)
    assert page.locator("label[for=sym-1-sev-mild]").inner_text() == "mild – relieved by rest"
    # what could not be read is listed, with a suggestion
    page.fill("#sym-1", "")
    page.locator("#sym-1-reading li").first.wait_for(state="detached")
    page.locator("#sym-1").press_sequentially("headache and dizzzyy")
    page.get_by_text("Not read").wait_for()
    assert desk.reading() == [
        "READ Headache",
        "NOT READ “dizzzyy”: a clinician will read it. Could it be: Dizziness?",
    ]


def test_a_measurement_typed_in_the_symptom_is_shown_as_read(desk: Desk) -> None:
    page = desk.page
    page.locator("#sym-1").press_sequentially("fever of 102 and bp 190/120")
    page.get_by_text("Measurement").first.wait_for()
    page.locator("#sym-1-reading li").nth(2).wait_for()
    assert desk.reading() == [
        "READ Fever or chills",
        "MEASUREMENT body temperature 38.9 °C (“fever of 102”: 102 read as °F: 38.9 °C)",
        "MEASUREMENT blood pressure 190/120 mmHg (“bp 190/120”)",
    ]
    # a blood pressure typed in its own fields stands; the one in the text is listed
    desk.answer_red_flags()
    page.fill("#systolic", "130")
    page.fill("#diastolic", "80")
    page.click("#triage")
    page.locator("#level-banner").wait_for()
    assert page.locator("#answer-body p.unread").inner_text() == (
        "Not used: systolic_bp 190 typed as 'bp 190/120' (the report gives systolic_bp 130,"
        " which is used); diastolic_bp 120 typed as 'bp 190/120' (the report gives"
        " diastolic_bp 80, which is used)"
    )


def test_glucose_in_the_wrong_unit_gets_a_hint_beside_the_field(desk: Desk) -> None:
    page = desk.page
    desk.answer_red_flags()
    page.fill("#glucose", "5.5")
    assert page.locator("#glucose-unit").input_value() == "mg/dL"
    msg = page.locator("#glucose-msg")
    assert msg.inner_text() == (
        "must be between 10 and 1500 mg/dL (got 5.5 mg/dL). Was it 5.5 mmol/L?"
        " That is 99.1 mg/dL. Use mmol/L"
    )
    assert page.get_attribute("#glucose", "aria-invalid") == "true"
    # beside the field: in the field's own box, right under the input
    field = page.locator("#glucose").bounding_box()
    hint = msg.bounding_box()
    assert field is not None and hint is not None
    assert 0 <= hint["y"] - (field["y"] + field["height"]) < 20
    assert abs(hint["x"] - field["x"]) < 5
    # triage is refused while the value is impossible; the field gets the focus
    page.click("#triage")
    assert page.evaluate("document.activeElement.id") == "glucose"
    assert page.locator("#form-problem").inner_text() == "Correct the fields marked in red first."
    # one click takes the other unit, and the report carries mg/dL
    page.get_by_role("button", name="Use mmol/L").click()
    assert page.locator("#glucose-unit").input_value() == "mmol/L"
    assert msg.inner_text() == "= 99.1 mg/dL"
    with page.expect_request(lambda r: r.url.endswith("/v1/triage")) as sent:
        page.click("#triage")
    assert json.loads(sent.value.post_data)["measurements"] == {"fasting_glucose_mg_dl": 99.09}
    page.locator("#level-banner").wait_for()


def test_pounds_are_sent_as_kilograms_and_errors_come_back_beside_the_field(desk: Desk) -> None:
    page = desk.page
    desk.answer_red_flags()
    page.fill("#weight", "180")
    page.select_option("#weight-unit", "lb")
    assert page.locator("#weight-msg").inner_text() == "= 81.6 kg"
    page.fill("#systolic", "90")
    page.fill("#diastolic", "120")
    page.click("#triage")
    assert page.locator("#diastolic-msg").inner_text() == (
        "the diastolic (120) must be lower than the systolic (90); were they swapped?"
    )
    page.fill("#systolic", "150")
    page.fill("#diastolic", "95")
    with page.expect_request(lambda r: r.url.endswith("/v1/triage")) as sent:
        page.click("#triage")
    assert json.loads(sent.value.post_data)["measurements"] == {
        "weight_kg": 81.65,
        "systolic_bp": 150,
        "diastolic_bp": 95,
    }
    page.locator("#level-banner").wait_for()


def test_keyboard_only(desk: Desk) -> None:
    page = desk.page
    keys = page.keyboard
    flags = page.locator("fieldset.rf").count()
    keys.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    for i in range(flags):
        keys.press("Tab")
        focused = page.evaluate("document.activeElement.id")
        assert focused.startswith("rf-") and focused.endswith("-no"), (i, focused)
        style = page.evaluate(
            "getComputedStyle(document.activeElement).outlineStyle"
            " + ' ' + getComputedStyle(document.activeElement).outlineWidth"
        )
        assert style == "solid 3px"  # visible focus
        keys.press("Space")
        assert page.evaluate("document.activeElement.checked") is True
    keys.press("Tab")
    assert page.evaluate("document.activeElement.id") == "sym-1"
    keys.type("tierd and dizzy")
    page.locator("#sym-1-reading li").nth(1).wait_for()
    # severity by keyboard: into the group, arrow to the next grade
    keys.press("Tab")
    keys.press("ArrowDown")
    assert page.evaluate("document.activeElement.id") == "sym-1-sev-moderate"
    # on to the Triage button with Tab alone
    for _ in range(40):
        keys.press("Tab")
        if page.evaluate("document.activeElement.id") == "triage":
            break
    else:
        pytest.fail("Tab never reached the Triage button")
    keys.press("Enter")
    page.locator("#level-banner").wait_for()
    assert page.evaluate("document.activeElement.id") == "answer-heading"
    assert page.locator("#level-banner .level-name").inner_text() == "NEXT VISIT"
    with page.expect_request(lambda r: r.url.endswith("/v1/triage")) as sent:
        page.click("#triage")  # the same report as sent by keyboard
    assert json.loads(sent.value.post_data) == {
        "symptoms": [{"name": "tierd and dizzy", "severity": "moderate"}]
    }
    # the folded parts open from the keyboard
    summary = page.locator("#answer-body details.why summary").first
    summary.focus()
    keys.press("Enter")
    assert page.locator("#answer-body details.why").first.get_attribute("open") == ""


def _axe(page: Any) -> list[dict[str, Any]]:
    # evaluated through the DevTools protocol, which the page's CSP does not govern; the
    # page itself never runs a script it did not load from its own origin
    page.evaluate(AXE.read_text(encoding="utf-8"))
    out = page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values:"
        " ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']}})"
    )
    return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]} for v in out["violations"]]


def _fill_a_call(desk: Desk) -> None:
    page = desk.page
    desk.answer_red_flags()
    page.locator("#sym-1").press_sequentially("tierd and dizzy")
    page.locator("#sym-1-reading li").nth(1).wait_for()
    page.click("label[for=sym-1-sev-moderate]")
    page.fill("#sym-1-days", "3")
    page.click("#add-symptom")
    page.locator("#sym-2").press_sequentially("bad headache, toes purple")
    page.get_by_text("Not read").wait_for()
    page.fill("#weight", "86")
    page.fill("#baseline", "79")
    page.fill("#systolic", "150")
    page.fill("#diastolic", "95")
    page.fill("#glucose", "5.5")
    page.fill("#patient-id", PATIENT)
    page.select_option("#route", "nasal_spray")
    page.fill("#hours", "2")


def test_no_accessibility_violations(desk: Desk, browser: Any, live: tuple[Server, str]) -> None:
    page = desk.page
    assert _axe(page) == []  # the empty form
    _fill_a_call(desk)
    assert _axe(page) == []  # readings, a field error with its button
    page.get_by_role("button", name="Use mmol/L").click()
    page.click("#triage")
    page.locator("#level-banner").wait_for()
    for summary in page.locator("#answer-body summary").all():
        summary.click()
    assert _axe(page) == []  # the answer, unfolded
    phone = Desk(browser, live[1], PHONE)
    try:
        phone.answer_red_flags(yes="suicidal_thoughts")
        phone.page.locator("#alert").get_by_text("Staff:").wait_for()
        assert _axe(phone.page) == []  # the emergency banner on a phone
        assert phone.problems == []
    finally:
        phone.close()


def test_screenshots_at_desk_and_phone_widths(
    desk: Desk, browser: Any, live: tuple[Server, str]
) -> None:
    page = desk.page
    _fill_a_call(desk)
    page.get_by_role("button", name="Use mmol/L").click()
    page.click("#triage")
    page.locator("#level-banner").wait_for()
    page.locator("#answer-body details.why").first.locator("summary").click()
    page.evaluate("window.scrollTo(0, 0)")  # the top: red flags beside the answer
    desk_png = DOCS / "desk-1280.png"
    page.screenshot(path=str(desk_png))
    phone = Desk(browser, live[1], PHONE)
    try:
        phone.answer_red_flags()
        phone.page.locator("#sym-1").press_sequentially("tierd and dizzy")
        phone.page.locator("#sym-1-reading li").nth(1).wait_for()
        top = "document.getElementById('sy-heading').offsetTop - 24"
        phone.page.evaluate(f"window.scrollTo(0, {top})")
        phone_png = DOCS / "desk-phone-390.png"
        phone.page.screenshot(path=str(phone_png))
        assert phone.problems == []
        # nothing wider than the phone's screen: no sideways scrolling
        assert phone.page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        phone.close()
    for png, size in ((desk_png, DESK), (phone_png, PHONE)):
        head = png.read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n"
        assert (int.from_bytes(head[16:20]), int.from_bytes(head[20:24])) == (
            size["width"],
            size["height"],
        )


def test_the_server_log_holds_no_patient_data(desk: Desk, live: tuple[Server, str]) -> None:
    page = desk.page
    _fill_a_call(desk)
    page.get_by_role("button", name="Use mmol/L").click()
    page.click("#triage")
    page.locator("#level-banner").wait_for()
    # history: this server keeps no check-ins, so the panel stays hidden
    assert page.locator("#history").is_hidden()
    log = "".join(live[0].lines)
    assert re.search(r"GET / 200", log)
    assert "POST /v1/read 200" in log
    assert "POST /v1/triage 200" in log
    assert "GET /static/{name} 200" in log
    for secret in (PATIENT, "tierd", "headache", "toes"):
        assert secret not in log


# -- history: a server with a real SQLite store, seeded with earlier check-ins -------------

LEVELS = {
    "self_care": "Self care",
    "next_visit": "Next visit",
    "within_24h": "Within 24 hours",
    "urgent": "Urgent",
    "emergency": "Emergency",
}
SEEDS = [  # (days ago, report): the third has no blood pressure, so it draws no BP point
    (42, {"symptoms": [{"name": "tired", "severity": "mild"}],
          "measurements": {"weight_kg": 80, "systolic_bp": 128, "diastolic_bp": 82}}),
    (28, {"symptoms": [{"name": "headache", "severity": "mild"}],
          "measurements": {"weight_kg": 82.5, "systolic_bp": 135, "diastolic_bp": 88}}),
    (14, {"symptoms": [{"name": "dizzy", "severity": "mild"}],
          "measurements": {"weight_kg": 84}}),
]  # fmt: skip


class HistoryServer:
    def __init__(self, server: Server, base: str, store: Path, seeded: list[tuple[str, str, str]]):
        self.server = server
        self.base = base
        self.store = store
        self.seeded = seeded  # (reported_at shown in UTC, level name, summary) oldest first


@pytest.fixture(scope="module")
def history_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HistoryServer]:
    from ktriage import Engine
    from ktriage.history import SqliteStore

    store = tmp_path_factory.mktemp("history") / "checkins.sqlite"
    today = dt.datetime.now(dt.UTC).replace(hour=9, minute=30, second=0, microsecond=0)
    seeded: list[tuple[str, str, str]] = []
    engine = Engine.load()
    with SqliteStore(store) as db:  # the first two through the library
        for days, report in SEEDS[:2]:
            when = today - dt.timedelta(days=days)
            result = db.check_in(
                engine, {**report, "patient_id": PATIENT, "reported_at": when.isoformat()}
            )
            seeded.append(
                (when.strftime("%Y-%m-%d %H:%M"), LEVELS[result.escalation.value], result.summary)
            )
    srv = Server("--port", "0", "--history", str(store))
    try:
        base = f"http://127.0.0.1:{srv.wait_for_port()}"
        days, report = SEEDS[2]  # the third through the endpoint
        when = today - dt.timedelta(days=days)
        request = urllib.request.Request(
            f"{base}/v1/patients/{PATIENT}/check-ins",
            data=json.dumps({**report, "reported_at": when.isoformat()}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            result = json.load(answer)
        seeded.append(
            (when.strftime("%Y-%m-%d %H:%M"), LEVELS[result["escalation"]], result["summary"])
        )
        yield HistoryServer(srv, base, store, seeded)
    finally:
        srv.stop()


@pytest.fixture
def history_desk(browser: Any, history_live: HistoryServer) -> Iterator[Desk]:
    d = Desk(browser, history_live.base, DESK, timezone="UTC")
    yield d
    d.close()
    assert d.problems == []
    # the id travels only in the path of the check-in calls, never in the page's own URL
    assert PATIENT not in d.page.url
    for request in d.requests:
        assert request.url.startswith(history_live.base + "/"), request.url
        if PATIENT in request.url:
            assert request.url == f"{history_live.base}/v1/patients/{PATIENT}/check-ins"


def _after_level(level: str, summary: str) -> str:
    """The summary as the timeline shows it, beside its level: without "Level: " again."""
    prefix = f"{level}: "
    assert summary.lower().startswith(prefix.lower()), summary
    return summary[len(prefix) :]


def _seeded_lines(seeded: list[tuple[str, str, str]]) -> list[str]:
    return [f"{when} {level} {_after_level(level, summary)}" for when, level, summary in seeded]


def _timeline(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#history .tl-item").all_inner_texts()]


def _points(page: Any, chart: str, series: str) -> int:
    return int(page.locator(f"#{chart} [data-series={series}] .pt").count())


def test_history_shows_the_timeline_and_charts_and_triage_records_the_check_in(
    history_desk: Desk, history_live: HistoryServer
) -> None:
    page = history_desk.page
    seeded = history_live.seeded
    # the page says what Triage will do with an id
    note = page.locator("#patient-id-note")
    assert note.is_visible()
    assert note.inner_text().startswith(
        "With an id, Triage also records this call as a check-in in the patient's history"
    )
    assert page.locator("#triage").inner_text() == "Triage"
    assert page.locator("#history").is_hidden()
    # typing the id (and leaving the field) shows the earlier check-ins
    page.fill("#patient-id", PATIENT)
    assert page.locator("#triage").inner_text() == "Triage and record the check-in"
    page.locator("#patient-id").blur()
    page.locator("#history .tl-item").nth(2).wait_for()
    assert _timeline(page) == _seeded_lines(seeded)
    assert page.locator("#history .hint").first.inner_text() == "3 check-ins, oldest first."
    assert _points(page, "chart-weight", "Weight") == 3
    assert _points(page, "chart-bp", "Systolic") == 2
    assert _points(page, "chart-bp", "Diastolic") == 2
    # triage this call: it is recorded through the check-in endpoint and joins the timeline
    history_desk.answer_red_flags()
    page.locator("#sym-1").press_sequentially("tired")
    page.locator("#sym-1-reading li").first.wait_for()
    page.fill("#weight", "86")
    page.fill("#systolic", "150")
    page.fill("#diastolic", "95")
    check_ins = f"{history_live.base}/v1/patients/{PATIENT}/check-ins"
    with page.expect_response(lambda r: r.url == check_ins and r.request.method == "POST") as sent:
        page.click("#triage")
    body = json.loads(sent.value.request.post_data)
    assert body == {
        "symptoms": [{"name": "tired"}],
        "measurements": {"weight_kg": 86, "systolic_bp": 150, "diastolic_bp": 95},
        "patient_id": PATIENT,
    }
    result = sent.value.json()
    assert page.locator("#recorded").inner_text() == "Recorded as a check-in of this patient."
    page.locator("#history .tl-item").nth(3).wait_for()
    timeline = _timeline(page)
    assert timeline[:3] == _seeded_lines(seeded)
    level = LEVELS[result["escalation"]]
    assert timeline[3].endswith(f"{level} {_after_level(level, result['summary'])} (this call)")
    assert page.locator("#history .hint").first.inner_text() == (
        "4 check-ins, oldest first; the last is this call."
    )
    # both charts, with one point per measured value (the third check-in had no BP)
    assert _points(page, "chart-weight", "Weight") == 4
    assert _points(page, "chart-bp", "Systolic") == 3
    assert _points(page, "chart-bp", "Diastolic") == 3
    assert page.locator("#chart-bp .line").count() == 2
    days = [w.split(" ")[0] for w, _, _ in seeded]
    assert page.locator("#chart-weight > title").text_content() == "Weight over time (kg)"
    assert page.locator("#chart-weight > desc").text_content() == (
        f"Weight: 80 on {seeded[0][0]}, 82.5 on {seeded[1][0]}, 84 on {seeded[2][0]},"
        f" 86 on {timeline[3][:16]} kg."
    )
    assert page.get_attribute("#chart-bp", "aria-labelledby") == "chart-bp-title chart-bp-desc"
    # the weight points rise left to right as the weight did; the axis names the first day
    xs = page.eval_on_selector_all("#chart-weight .pt", "ps => ps.map(p => +p.getAttribute('cx'))")
    ys = page.eval_on_selector_all("#chart-weight .pt", "ps => ps.map(p => +p.getAttribute('cy'))")
    assert xs == sorted(xs) and len(set(xs)) == 4
    assert ys == sorted(ys, reverse=True) and len(set(ys)) == 4
    assert page.locator("#chart-weight .axis text", has_text=days[0]).count() == 1
    # the numbers as a table, for those who cannot see the charts
    page.locator("#history details summary").click()
    rows = page.locator("#history table tbody tr").all_inner_texts()
    assert [r.split("\t") for r in rows] == [
        [seeded[0][0], "80", "128/82"],
        [seeded[1][0], "82.5", "135/88"],
        [seeded[2][0], "84", "not measured"],
        [timeline[3][:16], "86", "150/95"],
    ]
    # the panel passes axe, unfolded
    assert _axe(page) == []
    # a second click does not record the same call twice
    with page.expect_response(lambda r: r.url.endswith("/v1/triage")):
        page.click("#triage")
    page.locator("#recorded").get_by_text("Not recorded again").wait_for()
    assert page.locator("#recorded").inner_text() == (
        "Not recorded again: this same check-in is already in the patient's history."
    )
    page.locator("#history .hint").first.get_by_text("4 check-ins").wait_for()
    assert _timeline(page) == timeline
    from ktriage.history import SqliteStore

    with SqliteStore(history_live.store, create=False) as db:
        stored = list(db.records(PATIENT))
    assert [r.check_in.measurements.weight_kg for r in stored] == [80, 82.5, 84, 86]
    # a picture of the panel for the docs
    page.locator("#history details").evaluate("d => d.open = false")
    page.set_viewport_size({"width": DESK["width"], "height": 2000})  # the whole panel
    page.locator("#history").screenshot(path=str(DOCS / "desk-history.png"))
    # on a phone the panel and its charts fit the screen: no sideways scrolling
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    chart = page.locator("#chart-bp").bounding_box()
    assert chart is not None and 250 < chart["width"] <= PHONE["width"]
    # the id never reached the log: the access line shows the route's template
    log = "".join(history_live.server.lines)
    assert "GET /v1/patients/{patient_id}/check-ins 200" in log
    assert "POST /v1/patients/{patient_id}/check-ins 200" in log
    assert PATIENT not in log


def test_history_of_a_new_patient_and_an_id_the_path_cannot_carry(history_desk: Desk) -> None:
    page = history_desk.page
    page.fill("#patient-id", "pt-nobody-yet")
    page.locator("#patient-id").blur()
    page.locator("#history-body .hint").wait_for()
    assert page.locator("#history-body").inner_text() == (
        "No check-ins recorded for this patient yet."
    )
    page.fill("#patient-id", "ward/7")
    assert page.locator("#patient-id-msg").inner_text() == "must not contain / or \\"
    assert page.get_attribute("#patient-id", "aria-invalid") == "true"
    assert page.locator("#triage").inner_text() == "Triage"
    page.locator("#patient-id").blur()
    page.locator("#history").wait_for(state="hidden")
    history_desk.answer_red_flags()
    page.click("#triage")
    assert page.evaluate("document.activeElement.id") == "patient-id"
    assert page.locator("#form-problem").inner_text() == "Correct the fields marked in red first."
