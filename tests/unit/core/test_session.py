"""Key and policy documents: Tyk's fields validated, unknown ones kept, errors naming the field."""

from __future__ import annotations

import pytest

from tollhouse.core.keys import decode_session, encode_session, hash_key, looks_like_hash
from tollhouse.core.session import DocumentError, parse_policy, parse_session


def test_unknown_fields_survive_a_round_trip():
    session = parse_session({"rate": 5, "per": 1, "throttle_interval": 2, "access_rights": {"a": {"x": 1}}})
    again = decode_session(encode_session(session))
    assert again.model_extra["throttle_interval"] == 2
    assert again.access_rights["a"].model_extra["x"] == 1


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        ([], "(key)", "must be a JSON object"),
        ({"rate": -1}, "rate", "greater than or equal to 0"),
        ({"quota_max": -2}, "quota_max", "greater than or equal to -1"),
        ({"expires": "soon"}, "expires", "valid integer"),
        ({"access_rights": {"a": {"allowed_urls": [{"url": "(["}]}}}, "access_rights.a.allowed_urls.0.url",
         "not a valid regular expression"),
        ({"access_rights": {"a": {"limit": {"per": "x"}}}}, "access_rights.a.limit.per", "valid number"),
        ({"apply_policies": "gold"}, "apply_policies", "valid list"),
    ],
)
def test_bad_keys_name_the_field(raw, field, message):
    with pytest.raises(DocumentError) as refused:
        parse_session(raw)
    assert refused.value.errors[0][0] == field and message in refused.value.errors[0][1]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"name": "no id"}, "id"),
        ({"id": "has space"}, "id"),
        ({"id": "p", "partitions": {"quota": "maybe"}}, "partitions.quota"),
    ],
)
def test_bad_policies_name_the_field(raw, field):
    with pytest.raises(DocumentError) as refused:
        parse_policy(raw)
    assert refused.value.errors[0][0] == field


def test_policy_id_from_dashboard_underscore_id():
    assert parse_policy({"_id": "gold", "rate": 1, "per": 1}).id == "gold"


def test_key_hash_is_keyed_and_stable():
    assert hash_key("s" * 32, "k") == hash_key("s" * 32, "k") != hash_key("t" * 32, "k")
    assert looks_like_hash(hash_key("s" * 32, "k")) and not looks_like_hash("k")


def test_legacy_single_policy_field_is_applied():
    assert parse_session({"apply_policy_id": "a", "apply_policies": ["b"]}).policy_ids() == ["a", "b"]
