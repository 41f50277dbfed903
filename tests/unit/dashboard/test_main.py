"""The command line: hash-password, and settings errors that name the key without a traceback."""

from __future__ import annotations

import io

import bcrypt
import pytest

from tollhouse.dashboard.main import main

GOOD_HASH = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
VALID = {
    "mongo_url": "mongodb://127.0.0.1:1/",
    "node_secret": "0123456789abcdef0123456789abcdef",
    "key_hash_secret": "fedcba9876543210fedcba9876543210",
    "org_name": "Example",
    "admin_email": "admin@example.test",
    "admin_password_hash": GOOD_HASH,
}


def write_config(tmp_path, **overrides) -> str:
    values = {**VALID, **overrides}
    lines = [f'{key} = "{value}"' for key, value in values.items() if value is not None]
    path = tmp_path / "dashboard.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture(autouse=True)
def no_dashboard_env(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("TOLLHOUSE_DASHBOARD_"):
            monkeypatch.delenv(name)


def test_hash_password_reads_stdin_and_prints_a_bcrypt_hash(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret password\n"))
    assert main(["hash-password", "--rounds", "4"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("$2b$04$") and len(printed) == 60
    assert bcrypt.checkpw(b"s3cret password", printed.encode())


@pytest.mark.parametrize(("stdin", "message"), [("\n", "empty"), ("x" * 73 + "\n", "longer than 72 bytes")])
def test_hash_password_refuses_unusable_passwords(monkeypatch, capsys, stdin, message):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert main(["hash-password", "--rounds", "4"]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"admin_password_hash": "hunter2-plain-password"}, "admin_password_hash: must be a bcrypt hash"),
    ({"node_secret": None}, "node_secret: required key is missing"),
    ({"node_secret": "changeme"}, "node_secret: node_secret is a well-known default"),
    ({"key_hash_secret": None}, "key_hash_secret: required key is missing"),
    ({"key_hash_secret": "hunter2"}, "key_hash_secret: key_hash_secret must be at least 16 characters"),
    ({"mongo_url": "http://db/"}, "mongo_url: must be a mongodb:// URL"),
    ({"admin_email": "not-an-email"}, "admin_email:"),
    ({"listen_prot": "3000"}, "listen_prot: unknown key"),
], ids=["plain-password", "missing-node-secret", "default-node-secret", "missing-key-hash-secret",
        "short-key-hash-secret", "bad-mongo-url", "bad-email", "typo"])
def test_settings_errors_name_the_key_and_exit_2(tmp_path, capsys, overrides, expected):
    assert main(["--config", write_config(tmp_path, **overrides)]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert "Traceback" not in err
    assert "hunter2" not in err  # secrets are never echoed


def test_unknown_environment_variable_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TOLLHOUSE_DASHBOARD_LISTEN_PROT", "1")
    assert main(["--config", write_config(tmp_path)]) == 2
    assert "TOLLHOUSE_DASHBOARD_LISTEN_PROT: unknown setting 'listen_prot'" in capsys.readouterr().err


def test_missing_config_file_is_named(tmp_path, capsys):
    assert main(["--config", str(tmp_path / "absent.toml")]) == 2
    assert "absent.toml does not exist" in capsys.readouterr().err
