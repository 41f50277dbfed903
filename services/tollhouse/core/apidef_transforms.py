"""The transform sections of a version (Tyk's classic shapes), validated for the gateway and the dashboard.

Per version, in ``version_data.versions.<name>``: ``global_headers`` / ``global_headers_remove`` (request),
``global_response_headers`` / ``global_response_headers_remove``, ``global_size_limit``; and in its
``extended_paths`` the per-path lists read here: ``white_list``, ``black_list``, ``ignored`` (with
``method_actions`` — action ``reply`` is a mock response), ``transform_headers``, ``transform_response_headers``,
``url_rewrites``, ``method_transforms``, ``transform``, ``transform_response`` and ``size_limits``.

Every entry's ``path`` is matched like the other endpoint paths (``endpoint_paths.endpoint_pattern``: a regex from the
start of the path after the listen path, ``{name}`` one segment); ``method`` empty or ``ANY`` is every method.
``version_transforms`` raises ``DefinitionError`` naming the dotted path of the first bad field.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Literal

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tollhouse.core.apidef import ApiDefinition, DefinitionError, _describe
from tollhouse.core.apidef_versions import legacy_path_lists
from tollhouse.core.endpoint_paths import EndpointPath, Regex, endpoint_pattern

HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# A template this long is a mistake or an attack, not a transform.
MAX_TEMPLATE_CHARS = 64 * 1024


class _Entry(BaseModel):
    model_config = ConfigDict(extra="allow")

    path: EndpointPath = Field(min_length=1)
    method: str = ""
    ignore_case: bool = False
    disabled: bool = False

    def pattern(self) -> re.Pattern:
        pattern = endpoint_pattern(self.path)
        return re.compile(pattern.pattern, re.IGNORECASE) if self.ignore_case else pattern

    @property
    def methods(self) -> frozenset[str]:
        method = self.method.upper()
        return frozenset() if method in ("", "ANY") else frozenset({method})


def _check_headers(value: dict[str, str]) -> dict[str, str]:
    for name, text in value.items():
        if not HEADER_NAME.match(name):
            raise ValueError(f"{name!r} is not a header name")
        if any(ch in text for ch in "\r\n\0"):
            raise ValueError(f"the value of {name!r} must not hold line breaks")
    return value


class MethodAction(BaseModel):
    model_config = ConfigDict(extra="allow")

    action: Literal["no_action", "reply"] = "no_action"
    code: int = Field(200, ge=200, le=599)
    data: str = ""
    headers: dict[str, str] = {}

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_headers(value)


class ListEntry(_Entry):
    """A ``white_list`` / ``black_list`` / ``ignored`` entry: its methods are ``method_actions``' keys (the
    dashboard's shape), else ``method``, else every method."""

    method_actions: dict[str, MethodAction] = {}

    @property
    def methods(self) -> frozenset[str]:
        if self.method_actions:
            return frozenset(method.upper() for method in self.method_actions)
        return super().methods

    def action(self, method: str) -> MethodAction | None:
        return next((action for name, action in self.method_actions.items() if name.upper() == method), None)


class HeaderTransform(_Entry):
    add_headers: dict[str, str] = {}
    delete_headers: list[str] = []

    @field_validator("add_headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_headers(value)


class StringMatch(BaseModel):
    model_config = ConfigDict(extra="allow")

    match_rx: Regex
    reverse: bool = False


class TriggerOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    header_matches: dict[str, StringMatch] = {}
    query_val_matches: dict[str, StringMatch] = {}
    path_part_matches: dict[str, StringMatch] = {}
    session_meta_matches: dict[str, StringMatch] = {}
    payload_matches: StringMatch | None = None
    request_context_matches: dict[str, StringMatch] = {}

    @field_validator("request_context_matches")
    @classmethod
    def _unsupported(cls, value: dict) -> dict:
        if value:
            raise ValueError("is not supported by Tollhouse (use header, query, path part, session meta or "
                             "payload matches)")
        return value

    @field_validator("payload_matches", mode="before")
    @classmethod
    def _empty_payload(cls, value):
        # Tyk writes an unused payload match as {"match_rx": ""}.
        return None if isinstance(value, dict) and not value.get("match_rx") else value


class RewriteTrigger(BaseModel):
    model_config = ConfigDict(extra="allow")

    on: Literal["any", "all"] = "any"
    options: TriggerOptions = TriggerOptions()
    rewrite_to: str

    @model_validator(mode="after")
    def _has_a_match(self) -> RewriteTrigger:
        options = self.options
        if not (options.header_matches or options.query_val_matches or options.path_part_matches
                or options.session_meta_matches or options.payload_matches):
            raise ValueError("options: a trigger needs at least one match")
        return self


class UrlRewrite(_Entry):
    match_pattern: Regex
    rewrite_to: str
    triggers: list[RewriteTrigger] = []

    @model_validator(mode="after")
    def _relative_targets(self) -> UrlRewrite:
        for target in [self.rewrite_to, *(trigger.rewrite_to for trigger in self.triggers)]:
            if "://" in target:
                raise ValueError(f"rewrite_to {target!r}: only paths on the API's own upstream are supported "
                                 "(no tyk:// loops or other hosts)")
        return self


class MethodTransform(_Entry):
    to_method: str = Field(pattern=r"^[A-Za-z]+$")


class TemplateData(BaseModel):
    model_config = ConfigDict(extra="allow")

    input_type: Literal["json"] = "json"
    template_mode: Literal["blob"] = "blob"
    template_source: str
    enable_session: bool = False

    @field_validator("input_type", mode="before")
    @classmethod
    def _input(cls, value):
        if value == "xml":
            raise ValueError("xml input is not supported by Tollhouse: use json")
        return value

    @field_validator("template_mode", mode="before")
    @classmethod
    def _mode(cls, value):
        if value == "file":
            raise ValueError("file templates are not supported by Tollhouse: put the template in template_source "
                             "(base64) with template_mode blob")
        return value

    @field_validator("template_source")
    @classmethod
    def _source(cls, value: str) -> str:
        try:
            text = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise ValueError("must be the template, base64-encoded (UTF-8)") from None
        if len(text) > MAX_TEMPLATE_CHARS:
            raise ValueError(f"the template is longer than {MAX_TEMPLATE_CHARS} characters")
        try:
            ImmutableSandboxedEnvironment().parse(text)
        except TemplateSyntaxError as exc:
            raise ValueError(f"the template (Jinja2) does not compile: {exc} (line {exc.lineno})") from None
        return value

    @property
    def template(self) -> str:
        return base64.b64decode(self.template_source).decode("utf-8")


class BodyTransform(_Entry):
    template_data: TemplateData


class SizeLimit(_Entry):
    size_limit: int = Field(ge=0)


class VersionTransforms(BaseModel):
    """One version's transform settings, validated."""

    white_list: list[ListEntry] = []
    black_list: list[ListEntry] = []
    ignored: list[ListEntry] = []
    transform_headers: list[HeaderTransform] = []
    transform_response_headers: list[HeaderTransform] = []
    url_rewrites: list[UrlRewrite] = []
    method_transforms: list[MethodTransform] = []
    transform: list[BodyTransform] = []
    transform_response: list[BodyTransform] = []
    size_limits: list[SizeLimit] = []
    global_headers: dict[str, str] = {}
    global_headers_remove: list[str] = []
    global_response_headers: dict[str, str] = {}
    global_response_headers_remove: list[str] = []
    global_size_limit: int = Field(0, ge=0)

    @field_validator("global_headers", "global_response_headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_headers(value)

    @property
    def endpoint_rules(self) -> bool:
        return bool(self.white_list or self.black_list or self.ignored)

    @property
    def request_headers(self) -> bool:
        return bool(self.transform_headers or self.global_headers or self.global_headers_remove)

    @property
    def response_headers(self) -> bool:
        return bool(self.transform_response_headers or self.global_response_headers
                    or self.global_response_headers_remove)

    @property
    def size_limited(self) -> bool:
        return bool(self.size_limits or self.global_size_limit)


PATH_LISTS = tuple(name for name in VersionTransforms.model_fields if not name.startswith("global_"))
GLOBAL_FIELDS = tuple(name for name in VersionTransforms.model_fields if name.startswith("global_"))


def version_transforms(definition: ApiDefinition, version: str) -> VersionTransforms:
    """The transform settings of ``version``; ``DefinitionError`` names the first bad field."""
    prefix = f"version_data.versions.{version}"
    raw = definition.version_data.versions.get(version) or {}
    extended = raw.get("extended_paths") or {}
    if not isinstance(extended, dict):
        raise DefinitionError([(f"{prefix}.extended_paths", "must be an object")])
    fields = {name: extended[name] for name in PATH_LISTS if extended.get(name) is not None}
    for name, entries in legacy_path_lists(raw).items():  # Tyk's first shape of the lists (apidef_versions)
        fields[name] = [*fields[name], *entries] if isinstance(fields.get(name), list) else fields.get(name, entries)
    fields |= {name: raw[name] for name in GLOBAL_FIELDS if raw.get(name) is not None}
    try:
        return VersionTransforms.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        place = prefix if first["loc"] and first["loc"][0] in GLOBAL_FIELDS else f"{prefix}.extended_paths"
        raise DefinitionError([_describe(first, place)]) from None


def all_version_transforms(definition: ApiDefinition) -> dict[str, VersionTransforms]:
    return {name: version_transforms(definition, name) for name in definition.version_data.versions}


def unversioned_name(definition: ApiDefinition) -> str | None:
    """The version entry an unversioned API's requests use (Tyk calls it "Default"); None when it has none."""
    data = definition.version_data
    if not data.not_versioned:
        return None
    return next((name for name in (data.default_version, "Default", *data.versions) if name in data.versions), None)
