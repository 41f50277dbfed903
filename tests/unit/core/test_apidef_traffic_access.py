"""The CORS, IP list and per-version sections of a definition: what is accepted, and errors that name the field."""

from datetime import UTC, datetime

import pytest

from tollhouse.core.apidef import DefinitionError, parse_definition
from tollhouse.core.apidef_transforms import version_transforms
from tollhouse.core.apidef_versions import version_info

BASE = {"api_id": "a1", "name": "one", "use_keyless": True,
        "proxy": {"listen_path": "/one/", "target_url": "http://127.0.0.1:9000/"}}


def versioned(**version) -> dict:
    return {**BASE, "version_data": {"not_versioned": False, "versions": {"v1": version}}}


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ({**BASE, "allowed_ips": ["10.0.0.0/8", "10.0.0.300"]}, "allowed_ips.1", "not an IP address or CIDR"),
        ({**BASE, "blacklisted_ips": ["2001:db8::/129"]}, "blacklisted_ips.0", "not an IP address or CIDR"),
        ({**BASE, "blacklisted_ips": ["::ffff:10.0.0.1"]}, "blacklisted_ips.0", "plain form"),
        ({**BASE, "CORS": {"allowed_origins": ["https://*.a.*.com"]}}, "CORS.allowed_origins.0", "one '*'"),
        ({**BASE, "CORS": {"allowed_origins": ["https://a .com"]}}, "CORS.allowed_origins.0", "an origin"),
        ({**BASE, "CORS": {"allowed_methods": ["GET", "*"]}}, "CORS.allowed_methods.1", "not an HTTP method"),
        ({**BASE, "CORS": {"allowed_headers": ["X-Ok", "bad:name"]}}, "CORS.allowed_headers.1", "header name"),
        ({**BASE, "CORS": {"max_age": -1}}, "CORS.max_age", "greater than or equal to 0"),
        (versioned(expires="next tuesday"), "version_data.versions.v1.expires", "date and time"),
        (versioned(override_target="ftp://h/"), "version_data.versions.v1.override_target", "http(s) URL"),
        (versioned(override_target="http://h/?q=1"), "version_data.versions.v1.override_target", "query"),
        (versioned(paths={"white_list": ["/ok", "/(broken"]}), "version_data.versions.v1.paths.white_list.1",
         "regular expression"),
    ],
)
def test_bad_fields_are_named(raw, field, message):
    with pytest.raises(DefinitionError) as refused:
        parse_definition(raw)
    assert refused.value.field == field
    assert message in str(refused.value)


def test_ip_lists_apply_only_when_enabled_with_entries():
    assert not parse_definition({**BASE, "allowed_ips": ["10.0.0.1"]}).ip_lists_apply
    assert not parse_definition({**BASE, "enable_ip_whitelisting": True, "allowed_ips": []}).ip_lists_apply
    assert parse_definition({**BASE, "enable_ip_blacklisting": True, "blacklisted_ips": ["::1"]}).ip_lists_apply


def test_cors_nulls_are_tyk_defaults_and_passthrough_alone_is_in_use():
    cors = parse_definition({**BASE, "CORS": {"enable": False, "allowed_origins": None,
                                              "options_passthrough": True}}).CORS
    assert cors.in_use and cors.allowed_origins is None
    assert not parse_definition(BASE).CORS.in_use


@pytest.mark.parametrize(
    ("expires", "expected"),
    [
        ("", None),
        ("-1", None),
        ("2027-01-31 18:00", datetime(2027, 1, 31, 18, 0, tzinfo=UTC)),  # Tyk's format, UTC
        ("2027-01-31T20:00:00+02:00", datetime(2027, 1, 31, 18, 0, tzinfo=UTC)),
    ],
)
def test_expiry_formats(expires, expected):
    assert version_info(parse_definition(versioned(expires=expires)), "v1").expires_at == expected


@pytest.mark.parametrize(
    ("version", "white", "black", "ignored"),
    [
        # Tyk's first shape: plain paths for every method, joined to the extended_paths lists.
        ({"paths": {"white_list": ["/a"], "black_list": ["/b"], "ignored": ["/c"]},
          "extended_paths": {"white_list": [{"path": "/x", "method": "GET"}]}},
         ["/x", "/a"], ["/b"], ["/c"]),
        # use_extended_paths: the old lists are not read, as in Tyk.
        ({"use_extended_paths": True, "paths": {"white_list": ["/a"]}}, [], [], []),
        ({"paths": {"white_list": [], "black_list": None}}, [], [], []),
    ],
)
def test_legacy_paths_join_the_endpoint_lists(version, white, black, ignored):
    settings = version_transforms(parse_definition(versioned(**version)), "v1")
    assert [entry.path for entry in settings.white_list] == white
    assert [entry.path for entry in settings.black_list] == black
    assert [entry.path for entry in settings.ignored] == ignored
    assert all(not entry.methods for entry in settings.black_list + settings.ignored)
