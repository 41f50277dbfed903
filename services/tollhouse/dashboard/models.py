"""Request and response bodies of the dashboard API, so that ``/docs`` shows what really goes over the wire.

Field names follow Tyk's dashboard (``Status``/``Message``/``Meta``) so existing scripts keep working.
An API definition, a policy and a key's session travel as plain dicts (unknown fields must survive
untouched); their documented schemas are the shared models' (``ApiDefinition``, ``Policy``,
``SessionState``), while validation happens in ``parse_definition``, ``parse_policy`` and ``parse_session``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema, model_validator

from tollhouse.core.apidef import ApiDefinition
from tollhouse.core.session import Policy, SessionState


def _inline_refs(schema: Any, definitions: dict) -> Any:
    # FastAPI keeps a field's custom schema as given, so local "$defs" references must be resolved here.
    if isinstance(schema, dict):
        reference = schema.get("$ref", "")
        if reference.startswith("#/$defs/"):
            return _inline_refs(definitions[reference.removeprefix("#/$defs/")], definitions)
        return {key: _inline_refs(value, definitions) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_inline_refs(item, definitions) for item in schema]
    return schema


def _document_schema(model: type[BaseModel], filled_in: tuple[str, ...], description: str) -> dict:
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})
    schema = _inline_refs(schema, definitions)
    # The dashboard fills these in, so a client need not send them.
    schema["required"] = [name for name in schema.get("required", []) if name not in filled_in]
    if not schema["required"]:
        del schema["required"]
    schema["description"] = description
    return schema


DefinitionDict = Annotated[dict[str, Any], WithJsonSchema(_document_schema(
    ApiDefinition, ("api_id", "org_id"),
    "A Tyk classic API definition; fields not listed here are kept as given. "
    "api_id is generated when missing; org_id is set to the user's organisation."))]
PolicyDict = Annotated[dict[str, Any], WithJsonSchema(_document_schema(
    Policy, ("id", "org_id"),
    "A Tyk policy; fields not listed here are kept as given. id (or _id, Tyk's name) is generated when "
    "missing; org_id is set to the user's organisation; access_rights must name the organisation's APIs."))]
SessionDict = Annotated[dict[str, Any], WithJsonSchema(_document_schema(
    SessionState, ("org_id",),
    "A key's session, Tyk's field names; fields not listed here are kept as given. org_id is set to the "
    "user's organisation; apply_policies and access_rights must name the organisation's policies and APIs; "
    "a plain basic_auth_data.password is stored as a bcrypt hash."))]


class ApiEnvelope(BaseModel):
    api_definition: DefinitionDict


class ApiList(BaseModel):
    apis: list[ApiEnvelope]
    pages: int = Field(description="Number of pages at the configured page size (at least 1).")


class PolicyList(BaseModel):
    Data: list[PolicyDict]
    Pages: int = Field(description="Number of pages at the configured page size (at least 1).")


class KeyHashes(BaseModel):
    keys: list[str] = Field(description="Key hashes (HMAC-SHA256 of the key, hex); keys are never stored.")


class KeyList(BaseModel):
    data: KeyHashes
    pages: int = Field(description="Number of pages at the configured page size (at least 1).")


class KeyData(BaseModel):
    api_model: dict[str, Any] = Field(default_factory=dict, description="Always empty (Tyk's shape).")
    key_id: str = Field(description="The key itself when it was just created or named in the path; "
                                    "the hash when the path named the hash.")
    data: SessionDict
    key_hash: str = Field(description="The key's hash: what Redis, analytics and ?hashed=true use.")


class StatusResponse(BaseModel):
    Status: Literal["OK"] = "OK"
    Message: str
    Meta: str | None = None


class FieldError(BaseModel):
    field: str
    message: str


class ErrorResponse(BaseModel):
    Status: Literal["Error"] = "Error"
    Message: str
    Errors: list[FieldError] | None = None


class LoginRequest(BaseModel):
    username: str | None = Field(None, description="The user's email address.")
    email: str | None = Field(None, description="Accepted as a synonym of username.")
    password: str

    @model_validator(mode="after")
    def _has_a_login_name(self) -> LoginRequest:
        if not (self.username or self.email):
            raise ValueError("username (or email) is required")
        return self

    @property
    def login_name(self) -> str:
        return (self.username or self.email or "").strip().lower()


class LoginResponse(BaseModel):
    access_token: str = Field(description="Send it as the `authorization` header on every /api call.")
    expires_at: int = Field(description="Unix time (seconds) after which the token no longer works.")


class SystemApis(BaseModel):
    Status: Literal["OK"] = "OK"
    Message: list[DefinitionDict]
    Nonce: str = ""


class SystemPolicies(BaseModel):
    Status: Literal["OK"] = "OK"
    Message: list[dict[str, Any]]
    Nonce: str = ""


class DependencyHealth(BaseModel):
    status: Literal["pass", "warn", "fail"]
    error: str | None = None


class Health(BaseModel):
    status: Literal["pass", "warn", "fail"]
    details: dict[str, DependencyHealth]


# Error answers documented on every route that can give them.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": description}
    for code, description in {
        400: "The request body cannot be used; `Errors` names each field.",
        401: "Missing, unknown, expired or revoked access token.",
        403: "The user lacks the area's read (GET) or write access; nothing was changed.",
        503: "The database is unavailable.",
    }.items()
}


class SeriesPoint(BaseModel):
    t: str = Field(description="Start of the bucket (UTC).")
    requests: int
    errors: int = Field(description="Answers with status 400 or above.")
    server_errors: int | None = Field(description="5xx answers; null for one key (not kept per key).")
    latency_p50_ms: float | None = Field(description="Median latency, from the bucket's latency histogram "
                                                     "(within one histogram bucket, ~20%, of the true value); "
                                                     "null without requests or for one key.")
    latency_p95_ms: float | None
    latency_mean_ms: float | None
    latency_max_ms: float | None


class AnalyticsSeries(BaseModel):
    granularity: Literal["minute", "hour"]
    from_: str = Field(alias="from", description="The window, widened to whole buckets: from (inclusive).")
    to: str = Field(description="End of the window (exclusive).")
    api_id: str | None
    key_hash: str | None
    data: list[SeriesPoint]


class Totals(BaseModel):
    requests: int
    errors: int


class AnalyticsBreakdown(BaseModel):
    by: Literal["api", "key", "endpoint", "status"]
    granularity: Literal["minute", "hour"]
    from_: str = Field(alias="from")
    to: str
    total: Totals = Field(description="Sums over every row, not only those shown.")
    rows: int = Field(description="How many rows there are in all; `data` holds the busiest `limit`.")
    data: list[dict[str, Any]] = Field(description='Rows busiest first: {api_id, api_name}, {key_hash}, '
                                                   '{api_id, endpoint} or {status}, with requests and errors. '
                                                   '"(other)" counts keys or endpoints past the per-bucket cap.')


class AnalyticsLogs(BaseModel):
    from_: str = Field(alias="from")
    to: str
    page: int
    page_size: int
    has_more: bool = Field(description="Whether page + 1 has records (no total is counted: it would scan).")
    data: list[dict[str, Any]] = Field(description="Raw analytics records (Tyk's fields), newest first.")


PermissionMap = dict[Literal["apis", "keys", "policies", "analytics", "users", "system"],
                     Literal["none", "read", "write"]]
MIN_PASSWORD_CHARACTERS = 12
MAX_PASSWORD_BYTES = 72  # bcrypt's limit


def _password_rules(value: str) -> str:
    if len(value) < MIN_PASSWORD_CHARACTERS:
        raise ValueError(f"must be at least {MIN_PASSWORD_CHARACTERS} characters")
    if len(value.encode()) > MAX_PASSWORD_BYTES:
        raise ValueError(f"must be at most {MAX_PASSWORD_BYTES} bytes (bcrypt's limit)")
    return value


Password = Annotated[str, AfterValidator(_password_rules), Field(description=(
    f"At least {MIN_PASSWORD_CHARACTERS} characters and at most {MAX_PASSWORD_BYTES} bytes of UTF-8."))]


class UserCreate(BaseModel):
    email_address: str = Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$",
                               description="Unique across the dashboard, whatever its case.")
    password: Password
    user_permissions: PermissionMap = Field(default_factory=dict, description="Areas not named are none.")
    is_admin: bool = Field(False, description="Write access everywhere; only admins may grant it.")


class UserUpdate(BaseModel):
    user_permissions: PermissionMap | None = Field(None, description="Replaces every area's access when given.")
    is_admin: bool | None = None


class PasswordReset(BaseModel):
    new_password: Password


class UserView(BaseModel):
    id: str
    email_address: str
    org_id: str
    is_admin: bool
    user_permissions: dict[str, str] = Field(description="Every area's access (admins: write everywhere).")


class UserList(BaseModel):
    users: list[UserView]
    pages: int = Field(description="Number of pages at the configured page size (at least 1).")


class AuditEntry(BaseModel):
    id: str
    at: str = Field(description="When the change was made (UTC, ISO 8601).")
    org_id: str
    user_id: str
    user_email: str
    area: str
    action: str = Field(description="create, update, delete, reset_password (by a user manager) or "
                                    "change_password (by the user, on /account).")
    target: str = Field(description="The api_id, key hash, policy id or user id changed.")
    before: Any = Field(description="The document before the change (null for a creation).")
    after: Any = Field(description="The document after the change (null for a deletion).")


class AuditList(BaseModel):
    entries: list[AuditEntry]
    pages: int = Field(description="Number of pages at the configured page size (at least 1).")
