"""The transform sections of a version: what validates, and the dotted path a bad field is reported under."""

import base64

import pytest

from tollhouse.core.apidef import DefinitionError, parse_definition
from tollhouse.core.apidef_transforms import unversioned_name, version_transforms

EXT = "version_data.versions.Default.extended_paths"


def definition(extended: dict | None = None, **version) -> dict:
    return {"api_id": "a", "name": "a", "use_keyless": True,
            "proxy": {"listen_path": "/a/", "target_url": "http://127.0.0.1:9/"},
            "version_data": {"not_versioned": True, "versions": {
                "Default": {"name": "Default", "extended_paths": extended or {}, **version}}}}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def body_transform(source: str, **data) -> dict:
    return {"path": "/x", "method": "POST", "template_data": {"template_source": source, **data}}


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        (definition({"white_list": [{"path": "/a(", "method_actions": {}}]}), f"{EXT}.white_list.0.path",
         "is not a valid regular expression"),
        (definition({"black_list": [{"path": "/a", "method_actions": {"GET": {"action": "redirect"}}}]}),
         f"{EXT}.black_list.0.method_actions.GET.action", "Input should be 'no_action' or 'reply'"),
        (definition({"ignored": [{"path": "/a", "method_actions": {"GET": {"action": "reply", "code": 99}}}]}),
         f"{EXT}.ignored.0.method_actions.GET.code", "greater than or equal to 200"),
        (definition({"transform_headers": [{"path": "/a", "add_headers": {"Bad Name": "x"}}]}),
         f"{EXT}.transform_headers.0.add_headers", "'Bad Name' is not a header name"),
        (definition(global_headers={"X-A": "one\r\ntwo"}), "version_data.versions.Default.global_headers",
         "must not hold line breaks"),
        (definition(global_size_limit=-1), "version_data.versions.Default.global_size_limit", "greater than"),
        (definition({"size_limits": [{"path": "/a", "method": "POST"}]}), f"{EXT}.size_limits.0.size_limit",
         "is required"),
        (definition({"url_rewrites": [{"path": "/a", "match_pattern": ".*", "rewrite_to": "tyk://other/x"}]}),
         f"{EXT}.url_rewrites.0", "only paths on the API's own upstream"),
        (definition({"url_rewrites": [{"path": "/a", "match_pattern": "(", "rewrite_to": "/x"}]}),
         f"{EXT}.url_rewrites.0.match_pattern", "is not a valid regular expression"),
        (definition({"url_rewrites": [{"path": "/a", "match_pattern": ".*", "rewrite_to": "/x", "triggers": [
            {"on": "any", "options": {"request_context_matches": {"x": {"match_rx": "y"}}}, "rewrite_to": "/y"}]}]}),
         f"{EXT}.url_rewrites.0.triggers.0.options.request_context_matches", "is not supported"),
        (definition({"url_rewrites": [{"path": "/a", "match_pattern": ".*", "rewrite_to": "/x", "triggers": [
            {"on": "any", "options": {}, "rewrite_to": "/y"}]}]}),
         f"{EXT}.url_rewrites.0.triggers.0", "a trigger needs at least one match"),
        (definition({"method_transforms": [{"path": "/a", "to_method": "PO ST"}]}),
         f"{EXT}.method_transforms.0.to_method", "should match pattern"),
        (definition({"transform": [body_transform("not base64!")]}),
         f"{EXT}.transform.0.template_data.template_source", "must be the template, base64-encoded"),
        (definition({"transform": [body_transform(b64("{% for x in %}"))]}),
         f"{EXT}.transform.0.template_data.template_source", "does not compile"),
        (definition({"transform_response": [body_transform(b64("{{ body }}"), input_type="xml")]}),
         f"{EXT}.transform_response.0.template_data.input_type", "xml input is not supported"),
        (definition({"transform": [body_transform(b64("{{ body }}"), template_mode="file")]}),
         f"{EXT}.transform.0.template_data.template_mode", "file templates are not supported"),
        (definition({"transform": [body_transform(b64("x" * 70000))]}),
         f"{EXT}.transform.0.template_data.template_source", "longer than"),
    ],
)
def test_a_bad_field_is_named_by_its_dotted_path(raw, field, message):
    with pytest.raises(DefinitionError) as caught:
        parse_definition(raw)
    assert caught.value.field == field
    assert message in caught.value.errors[0][1]


def test_the_designer_shapes_and_tyk_extras_validate():
    """What the dashboard's designer writes (method_actions per method), with fields Tollhouse does not read."""
    raw = definition({
        "white_list": [{"path": "/items/{id}", "method_actions": {
            "GET": {"action": "no_action", "code": 200, "data": "", "headers": {}}}, "tyk_extra": 1}],
        "ignored": [{"path": "/health", "method": "GET", "ignore_case": True}],
        "url_rewrites": [{"path": "/a", "method": "GET", "match_pattern": "(.*)", "rewrite_to": "/b$1", "triggers": [
            {"on": "all", "rewrite_to": "/c",
             "options": {"header_matches": {"X-A": {"match_rx": "1"}}, "payload_matches": {"match_rx": ""}}}]}],
        "transform": [body_transform(b64("{{ body | tojson }}"), input_type="json", template_mode="blob")],
        "cache": ["/kept-as-given"]})
    settings = version_transforms(parse_definition(raw), "Default")
    assert settings.white_list[0].methods == frozenset({"GET"})
    assert settings.ignored[0].methods == frozenset({"GET"})
    assert settings.url_rewrites[0].triggers[0].options.payload_matches is None  # Tyk's empty one
    assert settings.transform[0].template_data.template == "{{ body | tojson }}"
    assert settings.endpoint_rules and not settings.size_limited


@pytest.mark.parametrize(
    ("version_data", "expected"),
    [
        ({"not_versioned": True, "versions": {"Default": {}}}, "Default"),
        ({"not_versioned": True, "default_version": "main", "versions": {"Default": {}, "main": {}}}, "main"),
        ({"not_versioned": True, "versions": {"only": {}}}, "only"),
        ({"not_versioned": False, "versions": {"v1": {}}}, None),
    ],
)
def test_the_version_an_unversioned_api_uses(version_data, expected):
    raw = definition() | {"version_data": version_data}
    assert unversioned_name(parse_definition(raw)) == expected
