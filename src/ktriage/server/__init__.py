"""ktriage over HTTP: a FastAPI app (``create_app``) and ``run`` to serve it with uvicorn.

Needs the ``server`` extra: ``pip install 'ktriage[server]'`` (and ``'ktriage[fhir]'``
for FHIR input and the patient-view CDS service).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from .app import BODY_TIMEOUT, MAX_BATCH, MAX_BODY_BYTES, create_app
from .cds_access import CdsJwt

__all__ = [
    "BODY_TIMEOUT",
    "HEADER_TIMEOUT",
    "LOG_CONFIG",
    "MAX_BATCH",
    "MAX_BODY_BYTES",
    "MAX_CONNECTIONS",
    "create_app",
    "run",
]

HEADER_TIMEOUT = 10.0
MAX_CONNECTIONS = 1_000

# uvicorn's own access log is off; ktriage's access log (method, route template, status,
# duration: never a body, a query string or a path parameter) goes to stderr.
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stderr",
        },
    },
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        "ktriage": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}


def run(
    host: str = "127.0.0.1",
    port: int = 8000,
    rules: str | None = None,
    *,
    access_log: bool = True,
    cds_origins: Sequence[str] = ("*",),
    cds_jwks: str | None = None,
    cds_issuers: Sequence[str] = (),
    docs: bool = False,
    header_timeout: float = HEADER_TIMEOUT,
    body_timeout: float = BODY_TIMEOUT,
    max_connections: int = MAX_CONNECTIONS,
    history: str | None = None,
) -> None:
    """Load the rule pack (a broken pack raises ``RulePackError``), then serve until stopped.

    ``cds_origins``, ``cds_jwks`` and ``cds_issuers``: see ``ktriage.server.cds_access``.
    A client that has not sent its whole request head within ``header_timeout`` seconds,
    or its body within ``body_timeout`` seconds, is disconnected (408 for the body); at
    most ``max_connections`` connections are open at once (see ``protocol.py``).
    """
    import uvicorn

    from .protocol import BACKLOG, guarded_protocol

    jwt = CdsJwt(cds_jwks, cds_issuers) if cds_jwks else None
    store = None
    if history:
        from ..history import open_store

        store = open_store(history)  # StoreError: one line, before anything listens
    app = create_app(
        rules=rules,
        cds_origins=cds_origins,
        cds_jwt=jwt,
        docs=docs,
        body_timeout=body_timeout,
        history=store,
    )
    config = dict(LOG_CONFIG)
    if not access_log:
        config["loggers"] = {
            **LOG_CONFIG["loggers"],
            "ktriage.server.access": {"level": "WARNING"},
        }
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            http=guarded_protocol(header_timeout, max_connections),
            backlog=BACKLOG,
            access_log=False,
            log_config=config,
            server_header=False,
            proxy_headers=False,
        )
    )
    try:
        with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the Ctrl-C it caught
            server.run()
    finally:
        if store is not None:
            store.close()
