"""Issue 17: the real server (uvicorn on 127.0.0.1) against abuse and faults.

Every test here is bounded: a fixed number of connections and requests, and socket
timeouts on every read. None asserts how long anything took (speed is measured in
benchmarks/bench_abuse.py); the short timeouts given to the server only make it act soon.
"""

from __future__ import annotations

import http.client
import json
import resource
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")

from ktriage.engine.errors import MAX_ERRORS
from ktriage.server.app import CPU_THREADS
from tests.test_server_smoke import STARTER, Server

JSON = {"content-type": "application/json"}
READ_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[Server, int]]:
    srv = Server(
        "--port", "0", "--rules", str(STARTER), "--header-timeout", "1", "--body-timeout", "1"
    )
    try:
        yield srv, srv.wait_for_port()
    finally:
        srv.stop()


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=READ_TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def slow_client(port: int) -> socket.socket:
    """A client that starts a request head and never finishes it."""
    s = socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT)
    s.sendall(b"POST /v1/triage HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    return s


def closed_by_server(s: socket.socket) -> bool:
    """Wait (at most READ_TIMEOUT) for the server to close; True when it did."""
    try:
        return s.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


# -- item 1: one request must not freeze the service ------------------------------------


def test_a_flood_of_invalid_feedback_items_gets_one_short_answer(live: tuple[Server, int]) -> None:
    _, port = live
    body = b'{"feedback":[' + b",".join([b"{}"] * 330_000) + b"]}"
    path = "/cds-services/ktriage-symptom-report/feedback"
    status, _, data = request(port, "POST", path, body, JSON)
    assert status == 422
    assert json.loads(data) == {
        "errors": [{"field": "feedback", "message": "has too many items (at most 1000)"}]
    }


def test_thousands_of_unknown_keys_give_the_first_errors_and_a_count(
    live: tuple[Server, int],
) -> None:
    _, port = live
    report = json.dumps({f"k{i}": 0 for i in range(80_000)}, separators=(",", ":"))
    status, _, data = request(port, "POST", "/v1/triage", report.encode(), JSON)
    assert status == 422
    answer = json.loads(data)
    assert answer["error_count"] == 80_000
    assert len(answer["errors"]) == MAX_ERRORS
    assert answer["errors"][0]["field"] == "k0"
    assert answer["errors"][0]["message"].startswith("unknown field; known fields: patient_id")
    assert len(data) < 5_000


def test_a_batch_item_with_many_errors_is_capped(live: tuple[Server, int]) -> None:
    _, port = live
    items = [{"symptoms": [{"name": "tired"}]}, {f"x{i}": 1 for i in range(500)}]
    status, _, data = request(port, "POST", "/v1/triage/batch", json.dumps(items).encode(), JSON)
    assert status == 200
    second = json.loads(data)["results"][1]
    assert second["index"] == 1
    assert second["error_count"] == 500
    assert len(second["errors"]) == MAX_ERRORS


# -- item 2: slow clients and too many of them ------------------------------------------


def test_a_client_that_never_finishes_its_head_is_disconnected(live: tuple[Server, int]) -> None:
    _, port = live
    clients = [slow_client(port) for _ in range(5)]
    try:
        assert [closed_by_server(s) for s in clients] == [True] * 5
    finally:
        for s in clients:
            s.close()
    assert request(port, "GET", "/healthz")[0] == 200


def test_a_body_that_never_arrives_gets_408(live: tuple[Server, int]) -> None:
    _, port = live
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT) as s:
        s.sendall(
            b"POST /v1/triage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert json.loads(body) == {
        "errors": [{"field": "", "message": "the body was not received within 1 s"}]
    }


def test_connection_limit_closes_waiting_clients_to_serve_new_ones() -> None:
    srv = Server("--port", "0", "--rules", str(STARTER), "--max-connections", "5")
    try:
        port = srv.wait_for_port()
        clients = [slow_client(port) for _ in range(5)]
        try:
            assert request(port, "GET", "/healthz")[0] == 200  # a 6th connection is served
            assert closed_by_server(clients[0])  # by closing the one waiting longest
        finally:
            for s in clients:
                s.close()
    finally:
        srv.stop()
    assert "connection limit (5) reached" in "".join(srv.lines)


def test_more_clients_than_descriptors_no_traceback_and_healthz_answers() -> None:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    srv = Server("--port", "0", "--rules", str(STARTER), "--no-access-log", preexec_fn=limit)
    try:
        port = srv.wait_for_port()
        clients = [slow_client(port) for _ in range(300)]
        try:
            assert request(port, "GET", "/healthz")[0] == 200
        finally:
            for s in clients:
                s.close()
    finally:
        srv.stop()
    log = "".join(srv.lines)
    assert "Traceback" not in log
    assert "connection limit (64) reached" in log  # 256 descriptors less 192 spare


# -- item 7: only JSON bodies -----------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("text/plain", "got 'text/plain'"),
        ("application/x-www-form-urlencoded", "got 'application/x-www-form-urlencoded'"),
        ("application/xml", "got 'application/xml'"),
        (None, None),
    ],
)
def test_a_body_that_is_not_json_gets_415(
    live: tuple[Server, int], content_type: str | None, message: str | None
) -> None:
    _, port = live
    headers = {"content-type": content_type} if content_type else {}
    for path in ("/v1/triage", "/cds-services/ktriage-symptom-report"):
        status, _, data = request(port, "POST", path, b"{}", headers)
        assert status == 415
        expected = (
            f"the body must be JSON (content-type application/json), {message}"
            if message
            else "the body must be JSON: send content-type application/json"
        )
        assert json.loads(data) == {"errors": [{"field": "", "message": expected}]}
    assert (
        request(port, "POST", "/v1/triage", b"{}", {"content-type": "Application/JSON"})[0] == 200
    )


# -- item 8: headers, docs, nothing echoed ---------------------------------------------


def test_security_headers_on_every_answer(live: tuple[Server, int]) -> None:
    _, port = live
    for method, path, body in [
        ("POST", "/v1/triage", b"{}"),
        ("GET", "/healthz", None),
        ("GET", "/nowhere", None),
    ]:
        _, headers, _ = request(port, method, path, body, JSON)
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"
        assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_docs_are_off_and_a_hostile_rule_id_is_not_echoed(live: tuple[Server, int]) -> None:
    _, port = live
    assert request(port, "GET", "/docs")[0] == 404
    status, _, data = request(port, "GET", "/v1/rules/%3Cimg%20src=x%20onerror=alert(1)%3E")
    assert status == 404
    assert b"<img" not in data
    assert json.loads(data)["errors"][0]["message"] == (
        "no rule with this id (ids are lower-case letters, digits, _ - .)"
    )


# -- item 9: a client that hangs up is not a server error -------------------------------


def test_client_disconnect_is_logged_as_499_not_an_error() -> None:
    srv = Server("--port", "0", "--rules", str(STARTER))
    try:
        port = srv.wait_for_port()
        with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT) as s:
            s.sendall(
                b"POST /v1/triage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 1000\r\n\r\n{"symptoms": ['
            )
        assert request(port, "GET", "/healthz")[0] == 200
    finally:
        srv.stop()
    log = "".join(srv.lines)
    assert "POST /v1/triage 499" in log
    assert " ERROR " not in log
    assert " 500 " not in log


# -- item 12: big batches do not take every thread -------------------------------------


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no thread count")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_concurrent_batches_use_at_most_cpu_threads(live: tuple[Server, int]) -> None:
    srv, port = live
    before = _threads(srv.proc.pid)
    reports = [{"symptoms": [{"name": "no energy", "severity": "severe"}]}] * 200
    body = json.dumps(reports).encode()
    statuses: list[int] = []

    def send() -> None:
        statuses.append(request(port, "POST", "/v1/triage/batch", body, JSON)[0])

    clients = [threading.Thread(target=send) for _ in range(16)]
    for t in clients:
        t.start()
    for t in clients:
        t.join(timeout=120)
    assert statuses == [200] * 16
    # anyio keeps its idle worker threads for 10 s: the count shows how many ran at once
    assert _threads(srv.proc.pid) <= before + CPU_THREADS


# -- item 5: a duplicate key is refused, by the service and by CDS ---------------------


def test_duplicate_keys_are_refused_by_the_service_and_cds(live: tuple[Server, int]) -> None:
    _, port = live
    body = b'{"measurements": {"systolic_bp": 190, "systolic_bp": 120}}'
    message = "duplicate key 'systolic_bp': a key may appear only once in an object"
    status, _, data = request(port, "POST", "/v1/triage", body, JSON)
    assert (status, json.loads(data)) == (
        422,
        {"errors": [{"field": "measurements.systolic_bp", "message": message}]},
    )
    status, _, data = request(port, "POST", "/v1/triage/batch", b"[" + body + b"]", JSON)
    assert (status, json.loads(data)["errors"][0]["field"]) == (422, "0.measurements.systolic_bp")
    call = b'{"hook": "org.ktriage.symptom-report", "hookInstance": "a", "hookInstance": "b",'
    call += b' "context": {"report": {}}}'
    status, _, data = request(port, "POST", "/cds-services/ktriage-symptom-report", call, JSON)
    assert status == 422
    assert json.loads(data)["errors"][0]["message"].startswith("duplicate key 'hookInstance'")
