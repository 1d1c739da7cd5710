"""Who may call the CDS Hooks routes: CORS for browser clients, and optional verification
of the JWT a CDS client signs each call with (CDS Hooks 2.0, "Trusting CDS Clients").

CORS: browser-based CDS clients (the CDS Hooks sandbox) need it; the bearer token, not a
cookie, carries authority, so any origin is allowed by default and credentials never are.
``cds_origins`` narrows it. Only paths under ``/cds-services`` get CORS headers.

JWT: off by default. With a JWKS (a URL, or a file of keys) every call to a CDS route
must carry ``Authorization: Bearer <JWT>`` signed by one of its keys, with ``iss`` in the
allow-list (when one is given), ``aud`` the URL of the route called, and ``exp``, ``iat``
and ``jti`` present. Needs ``PyJWT`` (``pip install 'ktriage[cds-jwt]'``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

CDS_PREFIX = "/cds-services"
ALGORITHMS = ["ES256", "ES384", "ES512", "RS256", "RS384", "RS512"]  # never "none" or HS*


class CdsCors:
    """CORS on the CDS routes only; every other route is left as it is."""

    def __init__(self, app: ASGIApp, origins: Sequence[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == CDS_PREFIX or path.startswith(CDS_PREFIX + "/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class JwtUnavailable(Exception):
    """JWT verification was asked for, but PyJWT is not installed."""


class CdsJwt:
    """Verifies the CDS client's JWT (see the module docstring)."""

    def __init__(self, jwks: str, issuers: Sequence[str] = ()) -> None:
        try:
            import jwt
        except ImportError as exc:
            raise JwtUnavailable("--cds-jwks needs PyJWT: pip install 'ktriage[cds-jwt]'") from exc
        self._jwt = jwt
        self.issuers = tuple(issuers)
        if jwks.startswith(("https://", "http://")):
            self._client: Any = jwt.PyJWKClient(jwks, cache_keys=True, timeout=5)
            self._keys: Any = None
        else:
            self._client = None
            self._keys = jwt.PyJWKSet.from_dict(json.loads(Path(jwks).read_text("utf-8")))

    def check(self, authorization: str | None, audience: str) -> str | None:
        """None when the call is trusted, else why not (one line, no token in it)."""
        jwt = self._jwt
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "a CDS client JWT is required (Authorization: Bearer <JWT>)"
        try:
            key = self._key(token)
            claims = jwt.decode(
                token,
                key.key,
                algorithms=ALGORITHMS,
                audience=audience,
                options={"require": ["iss", "aud", "exp", "iat", "jti"]},
                leeway=30,
            )
        except jwt.PyJWTError as exc:
            return f"the CDS client JWT is not valid: {exc}"
        if self.issuers and claims.get("iss") not in self.issuers:
            return f"the CDS client {claims.get('iss')!r} is not allowed"
        return None

    def _key(self, token: str) -> Any:
        jwt = self._jwt
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token)
        kid = jwt.get_unverified_header(token).get("kid")
        keys = [k for k in self._keys.keys if kid is None or k.key_id == kid]
        if not keys:
            raise jwt.InvalidKeyError(f"no key with kid {kid!r} in the JWKS")
        return keys[0]
