"""The TLS fields of an API definition (core/apidef_tls.py): what is accepted, and the dotted path of what is not."""

import pytest

from tollhouse.core.apidef import DefinitionError, parse_definition

FINGERPRINT = "ab" * 32


def definition(transport=None, **fields) -> dict:
    proxy = {"listen_path": "/a/", "target_url": "https://up.example"}
    if transport is not None:
        proxy["transport"] = transport
    return {"api_id": "a", "name": "a", "use_keyless": True, "proxy": proxy, **fields}


@pytest.mark.parametrize(("entry", "kept"), [
    (FINGERPRINT, FINGERPRINT),
    (FINGERPRINT.upper(), FINGERPRINT),
    (":".join(FINGERPRINT[i:i + 2] for i in range(0, 64, 2)), FINGERPRINT),  # openssl's -fingerprint form
    ("5e9d9544a1dcd60001d0ed20" + FINGERPRINT, FINGERPRINT),  # a Tyk certificate id: org id + fingerprint
])
def test_client_certificates_are_kept_as_fingerprints(entry, kept):
    parsed = parse_definition(definition(use_mutual_tls_auth=True, client_certificates=[entry]))
    assert parsed.use_mutual_tls_auth and parsed.client_certificates == [kept]


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"client_certificates": ["not-a-fingerprint"]}, "client_certificates.0", "SHA-256 fingerprint"),
    ({"client_certificates": [FINGERPRINT[:-1]]}, "client_certificates.0", "64 hex digits"),
    ({"transport": {"proxy_url": "http://forward:3128"}}, "proxy.transport.proxy_url", "not supported"),
    ({"transport": {"ssl_force_common_name_check": True}}, "proxy.transport.ssl_force_common_name_check",
     "subjectAltName"),
    ({"transport": {"ssl_min_version": 769}}, "proxy.transport.ssl_min_version", "771 (TLS 1.2)"),
    ({"transport": {"ssl_max_version": 1}}, "proxy.transport.ssl_max_version", "772 (TLS 1.3)"),
    ({"transport": {"ssl_ciphers": ["ECDHE-RSA-AES128-GCM-SHA256"]}}, "proxy.transport.ssl_ciphers",
     "Go's names"),
])
def test_unsupported_values_name_their_field(fields, field, words):
    with pytest.raises(DefinitionError) as refused:
        parse_definition(definition(**fields))
    assert refused.value.field == field
    assert words in str(refused.value)


def test_transport_options_and_unknown_transport_fields():
    transport = {"ssl_insecure_skip_verify": True, "ssl_ciphers": ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
                 "ssl_min_version": 771, "ssl_max_version": 772, "some_future_field": 1}
    parsed = parse_definition(definition(transport=transport)).proxy.transport
    assert parsed.tls_options == (True, ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",), 771, 772)
    assert parse_definition(definition()).proxy.transport.tls_options == (False, (), 0, 0)
