"""Password hashing and token helpers."""

from __future__ import annotations

import pytest

from tollhouse.dashboard.auth import bare_token, hash_password, new_token, password_matches, token_hash


def test_hash_and_check():
    hashed = hash_password("open sesame", rounds=4)
    assert hashed.startswith("$2b$04$")
    assert password_matches("open sesame", hashed)
    assert not password_matches("open sesame!", hashed)


def test_unusable_inputs_never_match():
    hashed = hash_password("p", rounds=4)
    assert not password_matches("p" * 100, hashed)
    assert not password_matches("p", "not a bcrypt hash")


@pytest.mark.parametrize("password", ["", "é" * 40])
def test_hash_refuses_empty_and_overlong(password):
    with pytest.raises(ValueError):
        hash_password(password, rounds=4)


def test_tokens_are_random_and_hashed():
    first, second = new_token(), new_token()
    assert first != second and len(first) >= 40
    assert token_hash(first) != first and len(token_hash(first)) == 64


@pytest.mark.parametrize(("header", "token"), [("abc", "abc"), ("Bearer abc", "abc"), ("bearer  abc ", "abc"),
                                               ("  abc ", "abc")])
def test_bare_token(header, token):
    assert bare_token(header) == token
