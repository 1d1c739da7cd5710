"""Fetch what a CDS service's prefetch templates ask for from the CDS client's FHIR server
(``fhirServer``), with the bearer token it gave (``fhirAuthorization``), when the client
did not prefetch it. Searches follow ``next`` links on the same server, within bounds.

Needs ``httpx`` (in the ``server`` extra). Nothing fetched is logged or kept.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, urlsplit

TIMEOUT_S = 5.0  # per request (connect, read, write, pool)
DEADLINE_S = 10.0  # for everything one call fetches
MAX_PAGES = 10  # of one search
MAX_BYTES = 5_000_000  # of one response


class FetchFailed(Exception):
    """The FHIR server could not give the data (the message names the key, never the data)."""


def fetch_prefetch(
    server: str,
    authorization: dict[str, Any] | None,
    templates: dict[str, str],
    context: dict[str, str],
    required: set[str],
) -> dict[str, Any]:
    """Each template's FHIR query run against ``server``: key -> resource or Bundle.

    ``templates`` are prefetch templates (``Observation?patient={{context.patientId}}``);
    ``context`` fills their tokens. Raises ``FetchFailed`` for the first ``required`` key
    that cannot be fetched; another key that cannot be is None (as a client would send it).
    """
    import httpx

    base = server.rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FetchFailed("fhirServer must be an http(s) URL")
    headers = {"Accept": "application/fhir+json"}
    token = (authorization or {}).get("access_token")
    if isinstance(token, str) and token:
        headers["Authorization"] = f"Bearer {token}"
    deadline = time.monotonic() + DEADLINE_S
    out: dict[str, Any] = {}
    with httpx.Client(
        timeout=TIMEOUT_S, headers=headers, follow_redirects=False, trust_env=False
    ) as client:
        for key, template in templates.items():
            query = template
            for name, value in context.items():
                query = query.replace("{{context." + name + "}}", quote(value, safe=""))
            try:
                out[key] = _get_all(client, base, f"{base}/{query}", key, deadline)
            except FetchFailed:
                if key in required:
                    raise
                out[key] = None
    return out


def _get_all(client: Any, base: str, url: str, key: str, deadline: float) -> Any:
    first = _get(client, url, key, deadline)
    if not (isinstance(first, dict) and first.get("resourceType") == "Bundle"):
        return first
    entries = list(first.get("entry") or [])
    page, pages = first, 1
    while (nxt := _next_link(page)) is not None:
        if not nxt.startswith(base + "/") and not nxt.startswith(base + "?"):
            raise FetchFailed(f"{key}: the next page is on another server; not followed")
        if pages >= MAX_PAGES:
            raise FetchFailed(f"{key}: more than {MAX_PAGES} pages")
        page = _get(client, nxt, key, deadline)
        pages += 1
        if not isinstance(page, dict) or page.get("resourceType") != "Bundle":
            raise FetchFailed(f"{key}: a next page is not a Bundle")
        entries.extend(page.get("entry") or [])
    return {**first, "entry": entries, "link": []}


def _next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None


def _get(client: Any, url: str, key: str, deadline: float) -> Any:
    import httpx

    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchFailed(f"{key}: the FHIR server took longer than {DEADLINE_S:g} s")
    try:
        response = client.get(url, timeout=min(TIMEOUT_S, left))
    except httpx.TimeoutException:
        raise FetchFailed(f"{key}: the FHIR server did not answer in time") from None
    except httpx.HTTPError as exc:
        raise FetchFailed(f"{key}: cannot reach the FHIR server ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise FetchFailed(f"{key}: the FHIR server answered HTTP {response.status_code}")
    if len(response.content) > MAX_BYTES:
        raise FetchFailed(f"{key}: the answer is larger than {MAX_BYTES} bytes")
    try:
        return response.json()
    except ValueError:
        raise FetchFailed(f"{key}: the FHIR server did not answer with JSON") from None
