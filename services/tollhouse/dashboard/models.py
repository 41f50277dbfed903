"""Request and response bodies of the dashboard API, so that ``/docs`` shows what really goes over the wire.

Field names follow Tyk's dashboard (``Status``/``Message``/``Meta``) so existing scripts keep working.
An API definition travels as a plain dict (unknown fields must survive untouched); its documented
schema is the shared ``ApiDefinition`` model's, while validation happens in ``parse_definition``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema, model_validator

from tollhouse.core.apidef import ApiDefinition


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


def _definition_schema() -> dict:
    schema = ApiDefinition.model_json_schema()
    definitions = schema.pop("$defs", {})
    schema = _inline_refs(schema, definitions)
    # The dashboard fills these in: api_id when missing, org_id always (the user's organisation).
    schema["required"] = [name for name in schema.get("required", []) if name not in ("api_id", "org_id")]
    schema["description"] = ("A Tyk classic API definition; fields not listed here are kept as given. "
                             "api_id is generated when missing; org_id is set to the user's organisation.")
    return schema


DefinitionDict = Annotated[dict[str, Any], WithJsonSchema(_definition_schema())]


class ApiEnvelope(BaseModel):
    api_definition: DefinitionDict


class ApiList(BaseModel):
    apis: list[ApiEnvelope]
    pages: int = Field(description="Number of pages at the configured page size (at least 1).")


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
        503: "The database is unavailable.",
    }.items()
}
