"""An OpenAPI 3.0 / 3.1 document -> a new Tyk classic API definition (pure: no I/O, no web).

What is taken from the document, and how:
- ``name`` <- ``info.title``; the version (``info.version``) names the one version entry when the API is
  imported as versioned, else the API is unversioned (Tyk's ``Default`` entry) as most imports want.
- ``proxy.target_url`` <- ``servers[0].url`` with its ``{variables}`` replaced by their defaults. A relative or
  missing server URL cannot be proxied to: the caller must give the upstream (``upstream`` wins anyway).
- an endpoint allow-list: each path + method becomes a ``white_list`` entry in the version's ``extended_paths``,
  in Tyk's shape (``path``, ``method``, ``method_actions``). Path templates stay as written (``/pets/{id}``):
  Tyk's importer keeps them, and Tyk (like ``endpoint_paths.endpoint_pattern``) reads ``{name}`` as one path segment.
- authentication from the security scheme the document requires (root ``security``, else the first
  operation's): ``apiKey`` in a header, query parameter or cookie -> auth token read from there; ``http basic``
  -> basic auth; ``http bearer`` with ``bearerFormat: JWT`` -> JWT (keys found per token ``kid`` until a
  ``jwt_source`` is set); other ``http bearer`` -> auth token from ``Authorization``. Anything else (oauth2,
  openIdConnect, mutualTLS, ...) cannot be mapped: the API is made keyless and a warning says so, for the user
  to choose before creating it. The caller may instead choose the kind (``auth``).

``OpenApiError`` names what makes a document unusable; ``Imported.warnings`` what was guessed or dropped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# The kinds a caller may choose instead of the document's security scheme.
AUTH_CHOICES = ("document", "keyless", "token", "basic", "jwt")
SERVER_VARIABLE = re.compile(r"\{([^{}]*)\}")
# libyaml's safe loader when PyYAML was built with it (much faster on a 2 MB document), else the pure one.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class OpenApiError(ValueError):
    """The document cannot be imported; the message names the problem."""


@dataclass
class Imported:
    definition: dict
    warnings: list[str] = field(default_factory=list)


def load_document(text: str) -> dict:
    """The document in ``text`` (JSON, or YAML, of which JSON is a subset), checked to be OpenAPI 3 with paths."""
    size = len(text.encode("utf-8"))
    if size > MAX_DOCUMENT_BYTES:
        raise OpenApiError(f"the document is {size / 1048576:.1f} MB; the limit is "
                           f"{MAX_DOCUMENT_BYTES // 1048576} MB")
    if not text.strip():
        raise OpenApiError("the document is empty")
    if text.lstrip().startswith(("{", "[")):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise OpenApiError(f"the document is not valid JSON: {exc.msg} at line {exc.lineno}, "
                               f"column {exc.colno}") from None
    else:
        try:
            document = yaml.load(text, Loader=SAFE_LOADER)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or "cannot be parsed"
            raise OpenApiError(f"the document is not valid JSON or YAML: {problem}{where}") from None
    check_document(document)
    return document


def check_document(document: Any) -> None:
    if not isinstance(document, dict):
        raise OpenApiError("the document must be an object (a mapping) at the top level")
    if "swagger" in document:
        raise OpenApiError(f"this is a Swagger {document['swagger']} document; only OpenAPI 3.0 and 3.1 can be "
                           "imported (convert it first)")
    version = document.get("openapi")
    if not isinstance(version, str) or not version.startswith("3."):
        raise OpenApiError("not an OpenAPI 3 document: the 'openapi' field must be a version 3.x "
                           f"(found {version!r})")
    info = document.get("info")
    if not isinstance(info, dict) or not isinstance(info.get("title"), str) or not info["title"].strip():
        raise OpenApiError("info.title is missing: it names the API")
    paths = document.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise OpenApiError("the document has no paths: the API's endpoints come from them")


def to_definition(document: dict, listen_path: str, upstream: str = "", auth: str = "document",
                  versioned: bool = False) -> Imported:
    """The Tyk classic definition of ``document`` served at ``listen_path`` (not yet validated by apidef:
    the caller creates it through the usual path, which checks it)."""
    check_document(document)
    if auth not in AUTH_CHOICES:
        raise OpenApiError(f"unknown authentication choice {auth!r}")
    warnings: list[str] = []
    info = document["info"]
    version_name = str(info.get("version") or "").strip() if versioned else "Default"
    if not version_name:
        raise OpenApiError("info.version is missing: a versioned API needs it to name its version")
    definition: dict = {
        "name": info["title"].strip(),
        "active": True,
        "proxy": {"listen_path": listen_path, "target_url": upstream.strip() or server_url(document),
                  "strip_listen_path": True},
        "definition": {"location": "header", "key": "x-api-version"},
        "version_data": {
            "not_versioned": not versioned,
            "default_version": version_name,
            "versions": {version_name: {"name": version_name, "use_extended_paths": True,
                                        "extended_paths": {"white_list": allow_list(document["paths"], warnings)}}},
        },
    }
    if auth == "document":
        definition.update(document_auth(document, warnings))
    else:
        definition.update(chosen_auth(auth))
    return Imported(definition, warnings)


def server_url(document: dict) -> str:
    """``servers[0].url`` with its variables at their defaults; ``OpenApiError`` when it cannot be proxied to."""
    servers = document.get("servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict) or \
            not isinstance(servers[0].get("url"), str):
        raise OpenApiError("the document names no server (servers[0].url): give the upstream URL")
    server = servers[0]
    variables = server.get("variables") if isinstance(server.get("variables"), dict) else {}

    def default_of(match: re.Match) -> str:
        variable = variables.get(match.group(1))
        if not isinstance(variable, dict) or "default" not in variable:
            raise OpenApiError(f"servers[0].url uses {{{match.group(1)}}}, which has no default: give the "
                               "upstream URL")
        return str(variable["default"])

    url = SERVER_VARIABLE.sub(default_of, server["url"])
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OpenApiError(f"servers[0].url {url!r} is not an absolute http(s) URL: give the upstream URL")
    return url


def allow_list(paths: dict, warnings: list[str]) -> list[dict]:
    """One Tyk ``white_list`` entry per path and method, in the document's order."""
    entries = []
    for path, item in paths.items():
        if not isinstance(item, dict):
            warnings.append(f"paths.{path} is not an object: skipped")
            continue
        if "$ref" in item:
            warnings.append(f"paths.{path} is a $ref, which is not followed: add its methods by hand")
        for method in HTTP_METHODS:
            if method in item:
                upper = method.upper()
                entries.append({"path": str(path), "method": upper, "ignore_case": False, "disabled": False,
                                "method_actions": {upper: {"action": "no_action", "code": 200, "data": "",
                                                           "headers": {}}}})
    if not entries:
        raise OpenApiError("the document's paths define no operations (get, post, ...): nothing to allow")
    return entries


def chosen_auth(kind: str) -> dict:
    if kind == "keyless":
        return {"use_keyless": True}
    if kind == "basic":
        return {"use_keyless": False, "use_basic_auth": True}
    if kind == "jwt":
        return {"use_keyless": False, "enable_jwt": True,
                "auth_configs": {"jwt": {"auth_header_name": "Authorization"}}}
    return {"use_keyless": False, "use_standard_auth": True,
            "auth_configs": {"authToken": {"auth_header_name": "Authorization"}}}


def document_auth(document: dict, warnings: list[str]) -> dict:
    """The auth fields for the security scheme the document requires (see the module's docstring)."""
    name = required_scheme(document)
    if name is None:
        return {"use_keyless": True}
    schemes = (document.get("components") or {}).get("securitySchemes") or {}
    scheme = schemes.get(name) if isinstance(schemes, dict) else None
    if not isinstance(scheme, dict):
        warnings.append(f"the security scheme {name!r} is required but not defined in components.securitySchemes:"
                        " the API was made keyless; choose an authentication kind before creating it")
        return {"use_keyless": True}
    kind, http_scheme = scheme.get("type"), str(scheme.get("scheme", "")).lower()
    if kind == "apiKey" and scheme.get("in") in ("header", "query", "cookie") and scheme.get("name"):
        where = {"header": {"auth_header_name": scheme["name"]},
                 "query": {"use_param": True, "param_name": scheme["name"]},
                 "cookie": {"use_cookie": True, "cookie_name": scheme["name"]}}[scheme["in"]]
        return {"use_keyless": False, "use_standard_auth": True, "auth_configs": {"authToken": where}}
    if kind == "http" and http_scheme == "basic":
        return chosen_auth("basic")
    if kind == "http" and http_scheme == "bearer":
        if str(scheme.get("bearerFormat", "")).upper() == "JWT":
            warnings.append(f"{name!r} is a JWT bearer scheme: the API checks JWTs, with keys found per token "
                            "(kid) until you set jwt_source and jwt_signing_method")
            return chosen_auth("jwt")
        return chosen_auth("token")
    described = f"{kind} {http_scheme}".strip() if kind == "http" else str(kind)
    warnings.append(f"the security scheme {name!r} ({described}) is not supported: the API was made keyless; "
                    "choose an authentication kind before creating it")
    return {"use_keyless": True}


def required_scheme(document: dict) -> str | None:
    """The first security scheme named by the root ``security``, else by the first operation that has one.
    An empty requirement (``{}``) or list means the API (or operation) is open."""
    requirements = document.get("security")
    if requirements is None:
        for item in document["paths"].values():
            for method in HTTP_METHODS:
                operation = item.get(method) if isinstance(item, dict) else None
                if isinstance(operation, dict) and operation.get("security"):
                    requirements = operation["security"]
                    break
            if requirements is not None:
                break
    for requirement in requirements or []:
        if isinstance(requirement, dict) and requirement:
            return str(next(iter(requirement)))
    return None
