"""JWT (Tyk's ``enable_jwt``): a signed token is the credential; who signed it decides whether it is believed.

Where the verifying key comes from (``jwt_source``):
- an http(s) URL (or base64 of one): a JWKS, cached by ``gateway/jwks.py``; the token's ``kid`` picks the key;
- base64 of the HMAC secret (``hmac``) or of a PEM public key or certificate (``rsa``, ``ecdsa``): one key for all;
- empty: per key, as Tyk does it: the token's ``kid`` names a stored key whose ``jwt_data.secret`` is the secret or
  PEM, and that key's session (expiry, inactive, access rights, limits) is the caller's.

Only the algorithms of ``jwt_signing_method``'s family are accepted (hmac: HS256/384/512, rsa: RS256/384/512,
ecdsa: ES256/384/512), so a token cannot choose ``none`` or an HMAC signed with a public key as the secret.
``exp``, ``nbf`` and ``iat`` are checked with the API's skews in seconds (``jwt_expires_at_validation_skew``,
``jwt_not_before_validation_skew``, ``jwt_issued_at_validation_skew``; Tyk's default, 0). ``aud`` and ``iss``
are not checked.

With a shared key (JWKS or ``jwt_source``) the caller is the claim ``jwt_identity_base_field`` (``sub`` when unset or
absent from the token) and its session is derived per request, never stored: the policies named by the claim
``jwt_policy_field_name`` (a string or a list), else ``jwt_default_policies``; its key hash is
``KeyStore.hash("jwt:" + org_id + identity)``, so rate limits and quotas count per identity on every gateway.

Answers: 401 ``Authorization field missing``; 401 ``Key not authorized: <why>`` for a token that is not believed
(malformed, algorithm not allowed, unknown kid, invalid signature, expired, not valid yet); 403 for a believed token
that names no caller or no policy; 503 when the JWKS (never fetched yet) or Redis cannot be reached.
"""

from __future__ import annotations

import base64
import logging
import time
from typing import TYPE_CHECKING

import jwt
from jwt.exceptions import DecodeError, InvalidKeyError, InvalidSignatureError, PyJWTError

from tollhouse.core.apidef import JWT_ALGORITHMS, jwt_family, jwt_public_key, jwt_source_url
from tollhouse.core.session import SessionState
from tollhouse.gateway.compiled import CompiledApi
from tollhouse.gateway.context import GatewayError, RequestContext
from tollhouse.gateway.credentials import find_credential, strip_credential
from tollhouse.gateway.jwks import JwksUnavailable
from tollhouse.gateway.middleware.stored_key import stored_key

if TYPE_CHECKING:
    from tollhouse.gateway.pipeline import PipelineDeps

log = logging.getLogger("tollhouse.gateway.jwt")

MISSING = "Authorization field missing"
REFUSED = "Key not authorized: "
# Per-key tokens: an unknown kid and a bad signature get the same answer, so kids (which are keys) cannot be probed.
PER_KEY_REFUSED = "unknown kid or invalid signature"
KEY_TYPES = {"hmac": "oct", "rsa": "RSA", "ecdsa": "EC"}
# exp, nbf and iat are checked here, each with its own skew; aud, iss, sub and jti are not checked.
DECODE_OPTIONS = {"verify_signature": True, "verify_exp": False, "verify_nbf": False, "verify_iat": False,
                  "verify_aud": False, "verify_iss": False, "verify_sub": False, "verify_jti": False}
MAX_PARSED_KEYS = 1024


def refused(reason: str, status: int = 401) -> GatewayError:
    return GatewayError(status, REFUSED + reason)


class JwtAuth:
    def __init__(self, api: CompiledApi, deps: PipelineDeps):
        definition = api.definition
        self.config = definition.auth_config("jwt")
        self.strip = definition.strip_auth_data
        self.keys = deps.keys
        self.jwks = deps.jwks
        self.family = jwt_family(definition)
        self.algorithms = JWT_ALGORITHMS[self.family]
        self.jwks_url = jwt_source_url(definition.jwt_source) if definition.jwt_source else None
        self.static_key = None
        if definition.jwt_source and self.jwks_url is None:
            material = base64.b64decode(definition.jwt_source.replace("\r", "").replace("\n", ""))
            try:
                self.static_key = self._key_from(material)
            except ValueError as exc:
                raise ValueError(f"jwt_source: decoded, {exc}") from None
        self.identity_field = definition.jwt_identity_base_field or "sub"
        self.policy_field = definition.jwt_policy_field_name
        self.default_policies = list(definition.jwt_default_policies or [])
        self.org_id = definition.org_id
        self.exp_skew = definition.jwt_expires_at_validation_skew
        self.nbf_skew = definition.jwt_not_before_validation_skew
        self.iat_skew = definition.jwt_issued_at_validation_skew
        self._parsed: dict[str, object] = {}  # per-key secrets -> verifying keys

    async def __call__(self, ctx: RequestContext) -> None:
        credential = find_credential(ctx.request, self.config)
        if credential is None or not credential.value:
            raise GatewayError(401, MISSING)
        token = credential.value
        try:
            header = jwt.get_unverified_header(token)
        except PyJWTError:
            raise refused("token is malformed") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise refused(f"algorithm {_short(alg)} is not allowed, this API accepts {', '.join(self.algorithms)}")
        kid = header.get("kid") if isinstance(header.get("kid"), str) and header.get("kid") else None

        if self.jwks_url is None and self.static_key is None:
            key_hash, session, candidates = await self._stored_key(kid)
            claims = self._verify(token, alg, candidates, PER_KEY_REFUSED)
            self._check_times(claims)
        else:
            candidates = [self.static_key] if self.static_key is not None else await self._jwks_keys(kid, alg)
            claims = self._verify(token, alg, candidates, "signature is invalid")
            self._check_times(claims)
            key_hash, session = self._derived_session(claims)
        ctx.api_key_hash = key_hash
        ctx.session = session
        if self.strip:
            strip_credential(ctx.request, credential)

    # -- the verifying key ------------------------------------------------------------------------

    async def _stored_key(self, kid: str | None) -> tuple[str, SessionState, list]:
        if kid is None:
            raise refused("the token has no kid header naming its key")
        key_hash = self.keys.hash(kid)
        session = await stored_key(self.keys, key_hash)
        secret = session.jwt_data.secret if session is not None else ""
        if not secret:
            raise refused(PER_KEY_REFUSED)
        key = self._parsed.get(secret)
        if key is None:
            try:
                key = self._key_from(secret.encode())
            except ValueError as exc:
                log.warning("the JWT secret of key %s... %s for %s", key_hash[:8], exc, self.family)
                raise refused(PER_KEY_REFUSED) from None
            if len(self._parsed) >= MAX_PARSED_KEYS:
                self._parsed.clear()
            self._parsed[secret] = key
        return key_hash, session, [key]

    async def _jwks_keys(self, kid: str | None, alg: str) -> list:
        assert self.jwks_url is not None
        try:
            found = await self.jwks.keys(self.jwks_url, kid)
        except JwksUnavailable as exc:
            raise GatewayError(503, str(exc)) from None
        usable = [jwk.key for jwk in found if jwk.kty == KEY_TYPES[self.family] and jwk.alg in (None, alg)]
        if usable:
            return usable
        if kid is None:
            raise refused(f"the token has no kid and no key of the JWKS fits {alg}")
        if found:
            raise refused(f"the JWKS key {_short(kid)} is not for {alg}")
        raise refused(f"unknown kid {_short(kid)}")

    def _key_from(self, material: bytes):
        if self.family == "hmac":
            if material.lstrip().startswith(b"-----BEGIN"):
                raise ValueError("is a PEM key, not an HMAC secret")
            return material
        return jwt_public_key(material, self.family)

    # -- the token --------------------------------------------------------------------------------

    @staticmethod
    def _verify(token: str, alg: str, candidates: list, bad_signature: str) -> dict:
        for key in candidates:
            try:
                return jwt.decode(token, key, algorithms=[alg], options=DECODE_OPTIONS)
            except (InvalidSignatureError, InvalidKeyError):
                continue  # the next key of the set may be the one (rotation without kids)
            except DecodeError:
                raise refused("token is malformed") from None
            except PyJWTError as exc:
                raise refused(f"token is not valid ({exc})") from None
        raise refused(bad_signature)

    def _check_times(self, claims: dict) -> None:
        now = time.time()
        exp, nbf, iat = (_number(claims, name) for name in ("exp", "nbf", "iat"))
        if exp is not None and now >= exp + self.exp_skew:
            raise refused("token has expired")
        if nbf is not None and now + self.nbf_skew < nbf:
            raise refused("token is not valid yet")
        if iat is not None and now + self.iat_skew < iat:
            raise refused("token is not valid yet: it was issued in the future")

    def _derived_session(self, claims: dict) -> tuple[str, SessionState]:
        identity = _text(claims.get(self.identity_field)) or _text(claims.get("sub"))
        if identity is None:
            raise refused(f"the token has no {_short(self.identity_field)} claim naming the caller", 403)
        policies = self.default_policies
        if self.policy_field and claims.get(self.policy_field) not in (None, "", []):
            named = claims[self.policy_field]
            named = [named] if isinstance(named, str) else named
            if not isinstance(named, list) or not all(isinstance(p, str) and p for p in named):
                raise refused(f"claim {_short(self.policy_field)} must be a policy id or a list of them", 403)
            policies = named
        if not policies:
            raise refused("no matching policy found", 403)
        session = SessionState(apply_policies=list(policies), org_id=self.org_id, alias=identity)
        return self.keys.hash(f"jwt:{self.org_id}{identity}"), session


def _number(claims: dict, name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise refused(f"token is malformed: claim {name} is not a number")
    return value


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _short(value: object) -> str:
    """A value from the token, quoted and cut short, for an error message."""
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:64] + "..." if len(text) > 64 else text)
