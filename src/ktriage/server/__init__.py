"""ktriage over HTTP: a FastAPI app (``create_app``) and ``run`` to serve it with uvicorn.

Needs the ``server`` extra: ``pip install 'ktriage[server]'`` (and ``'ktriage[fhir]'``
for FHIR input and the patient-view CDS service).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .app import MAX_BATCH, MAX_BODY_BYTES, create_app
from .cds_access import CdsJwt

__all__ = ["LOG_CONFIG", "MAX_BATCH", "MAX_BODY_BYTES", "create_app", "run"]

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
) -> None:
    """Load the rule pack (a broken pack raises ``RulePackError``), then serve until stopped.

    ``cds_origins``, ``cds_jwks`` and ``cds_issuers``: see ``ktriage.server.cds_access``.
    """
    import uvicorn

    jwt = CdsJwt(cds_jwks, cds_issuers) if cds_jwks else None
    app = create_app(rules=rules, cds_origins=cds_origins, cds_jwt=jwt)
    config = dict(LOG_CONFIG)
    if not access_log:
        config["loggers"] = {
            **LOG_CONFIG["loggers"],
            "ktriage.server.access": {"level": "WARNING"},
        }
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,
        log_config=config,
        server_header=False,
        proxy_headers=False,
    )
