"""OpenAPI 3 document -> Tyk classic definition: each mapping rule and each refusal, table-driven."""

from __future__ import annotations

import copy
import json

import pytest

from tollhouse.core.apidef import parse_definition
from tollhouse.core.endpoint_paths import endpoint_pattern
from tollhouse.core.openapi_import import MAX_DOCUMENT_BYTES, OpenApiError, load_document, to_definition

PETSTORE = {
    "openapi": "3.0.3",
    "info": {"title": "Pet store", "version": "1.2.0"},
    "servers": [{"url": "https://pets.example.test/v1"}],
    "paths": {
        "/pets": {"get": {"responses": {"200": {"description": "ok"}}},
                  "post": {"responses": {"201": {"description": "made"}}},
                  "parameters": [], "summary": "not a method"},
        "/pets/{petId}": {"get": {"responses": {"200": {"description": "ok"}}},
                          "delete": {"responses": {"204": {"description": "gone"}}}},
    },
}


def document(**changes) -> dict:
    result = copy.deepcopy(PETSTORE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = result
        for part in parents:
            target = target.setdefault(part, {})
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return result


def with_scheme(scheme: dict | None, security=None, name: str = "main") -> dict:
    result = copy.deepcopy(PETSTORE)
    if scheme is not None:
        result["components"] = {"securitySchemes": {name: scheme}}
    result["security"] = [{name: []}] if security is None else security
    return result


def test_the_petstore_maps_to_a_valid_unversioned_definition_with_an_allow_list():
    imported = to_definition(PETSTORE, "/pets-api/")
    definition = imported.definition
    assert imported.warnings == []
    assert definition["name"] == "Pet store" and definition["active"] is True
    assert definition["proxy"] == {"listen_path": "/pets-api/", "target_url": "https://pets.example.test/v1",
                                   "strip_listen_path": True}
    assert definition["use_keyless"] is True
    versions = definition["version_data"]
    assert versions["not_versioned"] is True and list(versions["versions"]) == ["Default"]
    allowed = versions["versions"]["Default"]["extended_paths"]["white_list"]
    assert [(entry["path"], entry["method"]) for entry in allowed] == [
        ("/pets", "GET"), ("/pets", "POST"), ("/pets/{petId}", "GET"), ("/pets/{petId}", "DELETE")]
    assert allowed[0]["method_actions"] == {"GET": {"action": "no_action", "code": 200, "data": "", "headers": {}}}
    parsed = parse_definition({**definition, "api_id": "a1"})
    assert parsed.auth_kind == "keyless"
    # Tyk's path template form: {petId} stands for one segment.
    assert endpoint_pattern("/pets/{petId}").match("/pets/42") and not endpoint_pattern("/pets/{petId}").match(
        "/pets/")


def test_versioned_import_names_the_version_after_info_version():
    versions = to_definition(PETSTORE, "/p/", versioned=True).definition["version_data"]
    assert versions["not_versioned"] is False and versions["default_version"] == "1.2.0"
    assert list(versions["versions"]) == ["1.2.0"]


@pytest.mark.parametrize(("servers", "upstream", "expected"), [
    ([{"url": "https://{region}.example.test:{port}/v1",
       "variables": {"region": {"default": "eu"}, "port": {"default": "8443"}}}], "",
     "https://eu.example.test:8443/v1"),
    ([{"url": "/v1"}], "http://127.0.0.1:9000/v1", "http://127.0.0.1:9000/v1"),
    (None, "http://upstream.test/", "http://upstream.test/"),
    ([{"url": "https://pets.example.test/v1"}], "  http://override.test/  ", "http://override.test/"),
])
def test_the_upstream_is_the_first_server_with_variables_filled_or_the_override(servers, upstream, expected):
    source = document(servers=servers)
    assert to_definition(source, "/p/", upstream=upstream).definition["proxy"]["target_url"] == expected


@pytest.mark.parametrize(("servers", "expected"), [
    (None, "names no server"),
    ([], "names no server"),
    ([{"url": "/v1"}], "not an absolute http(s) URL"),
    ([{"url": "ftp://files.test/"}], "not an absolute http(s) URL"),
    ([{"url": "https://{host}/"}], "{host}, which has no default"),
])
def test_an_unusable_server_asks_for_the_upstream(servers, expected):
    with pytest.raises(OpenApiError, match="give the upstream URL") as raised:
        to_definition(document(servers=servers), "/p/")
    assert expected in str(raised.value)


@pytest.mark.parametrize(("scheme", "expected"), [
    ({"type": "apiKey", "in": "header", "name": "X-Api-Key"},
     {"use_standard_auth": True, "auth_configs": {"authToken": {"auth_header_name": "X-Api-Key"}}}),
    ({"type": "apiKey", "in": "query", "name": "key"},
     {"use_standard_auth": True, "auth_configs": {"authToken": {"use_param": True, "param_name": "key"}}}),
    ({"type": "apiKey", "in": "cookie", "name": "sid"},
     {"use_standard_auth": True, "auth_configs": {"authToken": {"use_cookie": True, "cookie_name": "sid"}}}),
    ({"type": "http", "scheme": "basic"}, {"use_basic_auth": True}),
    ({"type": "http", "scheme": "Bearer", "bearerFormat": "JWT"}, {"enable_jwt": True}),
    ({"type": "http", "scheme": "bearer"},
     {"use_standard_auth": True, "auth_configs": {"authToken": {"auth_header_name": "Authorization"}}}),
])
def test_supported_security_schemes_choose_the_authentication(scheme, expected):
    definition = to_definition(with_scheme(scheme), "/p/").definition
    assert definition["use_keyless"] is False
    for field, value in expected.items():
        assert definition[field] == value, field
    parse_definition({**definition, "api_id": "a1"})  # and Tollhouse accepts it


@pytest.mark.parametrize(("scheme", "security", "warned"), [
    ({"type": "oauth2", "flows": {}}, None, "'main' (oauth2) is not supported"),
    ({"type": "openIdConnect", "openIdConnectUrl": "https://id.test/"}, None, "(openIdConnect) is not supported"),
    ({"type": "http", "scheme": "digest"}, None, "(http digest) is not supported"),
    (None, None, "not defined in components.securitySchemes"),
])
def test_unsupported_schemes_become_keyless_with_a_warning(scheme, security, warned):
    imported = to_definition(with_scheme(scheme, security), "/p/")
    assert imported.definition["use_keyless"] is True
    [warning] = imported.warnings
    assert warned in warning and "keyless" in warning


@pytest.mark.parametrize("security", [[], [{}]])
def test_an_empty_security_requirement_is_open(security):
    imported = to_definition(with_scheme({"type": "http", "scheme": "basic"}, security), "/p/")
    assert imported.definition["use_keyless"] is True and imported.warnings == []


def test_an_operation_level_requirement_is_used_when_the_root_has_none():
    source = with_scheme({"type": "http", "scheme": "basic"})
    del source["security"]
    source["paths"]["/pets/{petId}"]["delete"]["security"] = [{"main": []}]
    assert to_definition(source, "/p/").definition["use_basic_auth"] is True


@pytest.mark.parametrize(("auth", "flag"), [("keyless", "use_keyless"), ("token", "use_standard_auth"),
                                            ("basic", "use_basic_auth"), ("jwt", "enable_jwt")])
def test_a_chosen_kind_overrides_the_document(auth, flag):
    imported = to_definition(with_scheme({"type": "oauth2", "flows": {}}), "/p/", auth=auth)
    assert imported.definition[flag] is True and imported.warnings == []


@pytest.mark.parametrize(("text", "expected"), [
    ("", "empty"),
    ("{not json", "not valid JSON: Expecting property name enclosed in double quotes at line 1, column 2"),
    ("openapi: 3.0.0\ninfo: [unclosed", "not valid JSON or YAML"),
    ("[1, 2]", "must be an object"),
    ("just a string", "must be an object"),
    ('{"swagger": "2.0", "info": {"title": "t"}, "paths": {"/a": {}}}', "Swagger 2.0 document"),
    ('{"openapi": "2.9", "info": {"title": "t"}, "paths": {"/a": {"get": {}}}}', "not an OpenAPI 3 document"),
    ('{"info": {"title": "t"}, "paths": {"/a": {"get": {}}}}', "not an OpenAPI 3 document"),
    ('{"openapi": "3.1.0", "info": {"version": "1"}, "paths": {"/a": {"get": {}}}}', "info.title is missing"),
    ('{"openapi": "3.1.0", "info": {"title": "t"}}', "has no paths"),
    ('{"openapi": "3.1.0", "info": {"title": "t"}, "paths": {}}', "has no paths"),
])
def test_bad_documents_are_refused_naming_the_problem(text, expected):
    with pytest.raises(OpenApiError) as raised:
        load_document(text)
    assert expected in str(raised.value)


def test_a_document_over_the_limit_is_refused_before_parsing():
    text = json.dumps({**PETSTORE, "x-padding": "x" * MAX_DOCUMENT_BYTES})
    with pytest.raises(OpenApiError, match="the limit is 2 MB"):
        load_document(text)


def test_yaml_and_json_documents_load_the_same():
    yaml_text = """
openapi: 3.1.0
info: {title: Pet store, version: 1.2.0}
servers:
  - url: https://pets.example.test/v1
paths:
  /pets:
    get: {responses: {'200': {description: ok}}}
"""
    from_yaml = load_document(yaml_text)
    from_json = load_document(json.dumps(from_yaml))
    assert from_yaml == from_json and from_yaml["paths"]["/pets"]["get"]
    assert to_definition(from_yaml, "/p/").definition["name"] == "Pet store"


def test_paths_without_operations_are_refused_and_refs_warned():
    with pytest.raises(OpenApiError, match="define no operations"):
        to_definition(document(paths={"/a": {"summary": "nothing"}}), "/p/")
    imported = to_definition(document(paths={"/a": {"$ref": "#/x"}, "/b": {"get": {}}}), "/p/")
    assert any("$ref" in warning for warning in imported.warnings)
