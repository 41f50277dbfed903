import pytest

from tollhouse.core.apidef import DefinitionError, normalise_listen_path, parse_definition


def definition(**changes):
    raw = {
        "api_id": "a1",
        "name": "one",
        "use_keyless": True,
        "proxy": {"listen_path": "/one/", "target_url": "http://127.0.0.1:9000/base", "strip_listen_path": True},
        "custom_field": {"kept": [1, 2]},
    }
    for dotted, value in changes.items():
        target = raw
        *parents, last = dotted.split("__")
        for parent in parents:
            target = target[parent]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
    return raw


def test_valid_definition_keeps_unknown_fields():
    parsed = parse_definition(definition())
    assert parsed.proxy.strip_listen_path is True
    assert parsed.model_extra["custom_field"] == {"kept": [1, 2]}
    assert parsed.route_key == ("", "/one/")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"proxy__target_url": KeyError}, "proxy.target_url", "is required"),
        ({"proxy__target_url": "not a url"}, "proxy.target_url", "absolute http(s) URL"),
        ({"proxy__target_url": "ftp://h/"}, "proxy.target_url", "absolute http(s) URL"),
        ({"proxy__target_url": "http://h:99999/"}, "proxy.target_url", "invalid port"),
        ({"proxy__listen_path": "one/"}, "proxy.listen_path", "must start with '/'"),
        ({"proxy__listen_path": "/a b/"}, "proxy.listen_path", "plain path"),
        ({"proxy": KeyError}, "proxy", "is required"),
        ({"api_id": "has space"}, "api_id", "letters, digits"),
        ({"name": ""}, "name", "at least 1"),
        ({"domain": "bad domain!"}, "domain", "host name"),
        ({"use_basic_auth": True}, "use_basic_auth", "cannot be combined with use_keyless"),
        ({"use_keyless": False, "enable_jwt": True, "use_basic_auth": True}, "enable_jwt",
         "cannot be combined with use_basic_auth"),
        ({"use_oauth2": True}, "use_oauth2", "cannot be combined with use_keyless"),
        ({"use_keyless": False, "auth_configs": {"authToken": {"auth_header_name": "bad name"}}},
         "auth_configs.authToken.auth_header_name", "header name"),
        ({"global_rate_limit": {"rate": -1}}, "global_rate_limit.rate", "greater than or equal to 0"),
        ({"proxy__strip_listen_path": "maybe"}, "proxy.strip_listen_path", "boolean"),
    ],
)
def test_invalid_definitions_name_the_field(changes, field, message):
    with pytest.raises(DefinitionError) as caught:
        parse_definition(definition(**changes))
    assert caught.value.field == field
    assert message in str(caught.value)


def test_not_an_object():
    with pytest.raises(DefinitionError, match="must be a JSON object"):
        parse_definition([1, 2])


@pytest.mark.parametrize(("given", "expected"), [("/", "/"), ("/a", "/a/"), ("/a/", "/a/")])
def test_listen_path_normalised(given, expected):
    assert normalise_listen_path(given) == expected


@pytest.mark.parametrize(
    ("flags", "kind"),
    [
        ({}, "keyless"),
        ({"use_keyless": False}, "token"),
        ({"use_keyless": False, "use_standard_auth": True}, "token"),
        ({"use_keyless": False, "use_oauth2": True}, "token"),
        ({"use_keyless": False, "use_basic_auth": True}, "basic"),
        ({"use_keyless": False, "enable_jwt": True}, "jwt"),
        ({"use_keyless": False, "enable_signature_checking": True}, "signature"),
    ],
)
def test_auth_kind(flags, kind):
    assert parse_definition(definition(**flags)).auth_kind == kind


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"version_data": {"not_versioned": False, "versions": {}}}, "version_data.versions", "at least one"),
        ({"version_data": {"not_versioned": False, "default_version": "v3", "versions": {"v1": {}}}},
         "version_data.default_version", "'v3' is not in versions"),
        ({"definition": {"location": "body"}}, "definition.location", "'header', 'url-param' or 'url'"),
    ],
)
def test_version_settings_are_checked(changes, field, message):
    with pytest.raises(DefinitionError) as refused:
        parse_definition(definition(**changes))
    assert refused.value.field == field and message in str(refused.value)


def endpoint_limits(entries) -> dict:
    version = {"extended_paths": {"rate_limit": entries}}
    return {"version_data": {"not_versioned": True, "versions": {"Default": version}}}


@pytest.mark.parametrize(
    ("entries", "field", "message"),
    [
        ([{"path": "/a", "rate": 5, "per": 0}], "version_data.versions.Default.extended_paths.rate_limit.0.per",
         "greater than 0"),
        ([{"path": "/a", "per": 1}], "version_data.versions.Default.extended_paths.rate_limit.0.rate", "is required"),
        ([{"path": "/a", "rate": 1, "per": 1}, {"path": "/b(", "rate": 1, "per": 1}],
         "version_data.versions.Default.extended_paths.rate_limit.1.path", "not a valid regular expression"),
        ({"path": "/a"}, "version_data.versions.Default.extended_paths.rate_limit", "must be a list"),
    ],
)
def test_endpoint_rate_limits_are_checked(entries, field, message):
    with pytest.raises(DefinitionError) as refused:
        parse_definition(definition(**endpoint_limits(entries)))
    assert refused.value.field == field and message in str(refused.value)


def test_endpoint_rate_limits_parsed():
    entries = [{"path": "/users/{id}", "method": "get", "rate": 2, "per": 1},
               {"path": "x", "rate": 1, "per": 1, "enabled": False}]
    parsed = parse_definition(definition(**endpoint_limits(entries)))
    first, second = parsed.version_data.rate_limits("Default")
    assert (first.methods, first.active, second.active) == (frozenset({"GET"}), True, False)
