"""HMAC request signatures (Tyk's ``enable_signature_checking``), the draft-cavage HTTP Signatures scheme:

    Authorization: Signature keyId="<key>",algorithm="hmac-sha256",headers="(request-target) date",signature="<b64>"

``keyId`` is a key (looked up by its hash like any key) whose session has ``hmac_enabled`` and the shared secret in
``hmac_string``. The signing string is one ``name: value`` line per header listed in ``headers`` (default ``date``),
joined by newlines; ``(request-target)`` is ``<method in lower case> <path>[?<query>]`` as the client sent it.
A ``date`` line uses ``X-Aux-Date`` when the request has no ``Date`` (Tyk's allowance for browsers). The signature
may be sent URL-encoded, as Tyk's clients do. It is compared in constant time.

``hmac_allowed_algorithms`` limits the algorithms (empty: hmac-sha1, -sha256, -sha384, -sha512).
``hmac_allowed_clock_skew`` is in milliseconds, as Tyk's: when above 0, ``Date`` (or ``X-Aux-Date``) must be
within that much of this gateway's clock; 0 or less (Tyk's default, and ``-1`` in its exports): not checked.

Answers: 401 ``Authorization field missing``; 400 naming what is wrong for a header that cannot be used
(malformed, algorithm not allowed, a signed header missing, a bad or out-of-range date: Tyk's
``Date is out of allowed range.``); 401 ``Request signature is invalid`` for an unknown key, a key without HMAC and a
wrong signature alike, so keys (which are credentials) cannot be probed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from datetime import datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

from tollhouse.core.apidef import HMAC_ALGORITHMS
from tollhouse.gateway.compiled import CompiledApi
from tollhouse.gateway.context import GatewayError, RequestContext
from tollhouse.gateway.credentials import find_credential, strip_credential
from tollhouse.gateway.http.messages import Request
from tollhouse.gateway.keystore import KeyStore
from tollhouse.gateway.middleware.stored_key import stored_key

MISSING = "Authorization field missing"
MALFORMED = "Authorization field malformed: "
INVALID = "Request signature is invalid"
OUT_OF_RANGE = "Date is out of allowed range."
DIGESTS = {"hmac-sha1": hashlib.sha1, "hmac-sha256": hashlib.sha256, "hmac-sha384": hashlib.sha384,
           "hmac-sha512": hashlib.sha512}
PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*"([^"]*)"\s*(?:,|$)')
SHAPE = 'expected Signature keyId="...",algorithm="...",headers="...",signature="..."'


class SignatureAuth:
    def __init__(self, api: CompiledApi, keys: KeyStore):
        definition = api.definition
        self.config = definition.auth_config("hmac")
        self.strip = definition.strip_auth_data
        self.keys = keys
        self.allowed = tuple(definition.hmac_allowed_algorithms or HMAC_ALGORITHMS)
        self.skew_ms = definition.hmac_allowed_clock_skew

    async def __call__(self, ctx: RequestContext) -> None:
        request = ctx.request
        credential = find_credential(request, self.config)
        if credential is None or not credential.value:
            raise GatewayError(401, MISSING)
        params = parse_signature(credential.value)
        algorithm = params["algorithm"].lower()
        if algorithm not in self.allowed:
            raise GatewayError(400, f"Signature algorithm {params['algorithm'][:32]!r} is not allowed, this API "
                                    f"accepts {', '.join(self.allowed)}")
        if self.skew_ms > 0:
            self._check_date(request)
        signing_string = signing_string_of(request, params.get("headers", "date"))

        key_hash = self.keys.hash(params["keyId"])
        session = await stored_key(self.keys, key_hash)
        secret = session.hmac_string if session is not None and session.hmac_enabled else ""
        expected = sign(secret or "no secret", algorithm, signing_string).encode()
        given = params["signature"]
        matches = hmac.compare_digest(expected, given.encode())
        matches = hmac.compare_digest(expected, unquote(given).encode()) or matches
        if not secret or not matches:
            raise GatewayError(401, INVALID)
        ctx.api_key_hash = key_hash
        ctx.session = session
        if self.strip:
            strip_credential(request, credential)

    def _check_date(self, request: Request) -> None:
        value = request.header("date") or request.header("x-aux-date")
        if not value:
            raise GatewayError(400, "Date header missing: this API checks when requests were signed")
        sent = parse_date(value)
        if sent is None:
            raise GatewayError(400, "Date header is not an HTTP date (e.g. Tue, 15 Nov 1994 08:12:31 GMT)")
        if abs(time.time() - sent) * 1000 > self.skew_ms:
            raise GatewayError(400, OUT_OF_RANGE)


def parse_signature(value: str) -> dict[str, str]:
    """The parameters of a ``Signature`` header (the word itself may be left out, as Tyk allows)."""
    text = value.strip()
    if text[:10].lower() == "signature ":
        text = text[10:]
    params: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = PARAM.match(text, position)
        if match is None:
            raise GatewayError(400, MALFORMED + SHAPE)
        name = match.group(1)
        if name in params:
            raise GatewayError(400, MALFORMED + f"{name} is given twice")
        params[name] = match.group(2)
        position = match.end()
    for name in ("keyId", "algorithm", "signature"):
        if not params.get(name):
            raise GatewayError(400, MALFORMED + f"{name} is missing ({SHAPE})")
    return params


def signing_string_of(request: Request, headers: str) -> str:
    lines = []
    for name in headers.lower().split() or ["date"]:
        if name == "(request-target)":
            target = f"{request.path}?{request.query}" if request.query else request.path
            lines.append(f"(request-target): {request.method.lower()} {target}")
            continue
        values = [value.strip() for key, value in request.headers if key == name]
        if not values and name == "date" and request.header("x-aux-date") is not None:
            name, values = "x-aux-date", [request.header("x-aux-date").strip()]
        if not values:
            raise GatewayError(400, f"Signed header {name[:64]!r} is missing from the request")
        lines.append(f"{name}: {', '.join(values)}")
    return "\n".join(lines)


def sign(secret: str, algorithm: str, signing_string: str) -> str:
    digest = hmac.new(secret.encode(), signing_string.encode(), DIGESTS[algorithm]).digest()
    return base64.b64encode(digest).decode()


def parse_date(value: str) -> float | None:
    """Unix time of an HTTP date, or of the JavaScript ``Date.toString()`` form Tyk also reads."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        parsed = None
    if parsed is None or parsed.tzinfo is None:  # no zone it understood (-0000 counts as none, as RFC 5322 says)
        try:
            parsed = datetime.strptime(value.split(" (", 1)[0].strip(), "%a %b %d %Y %H:%M:%S GMT%z")
        except ValueError:
            return None
    return parsed.timestamp()
