"""The ``workers`` setting: validation, what 0 means, and the startup error a bad value gives."""

from __future__ import annotations

import os

import pytest

from tollhouse.core.settings import SettingsError, load_settings
from tollhouse.gateway import main as gateway_main
from tollhouse.gateway.settings import ENV_PREFIX, GatewaySettings
from tollhouse.gateway.workers import SupervisorLink, worker_count

BASE = f'secret = "{"s" * 32}"\nkey_hash_secret = "{"k" * 32}"\napp_path = "/tmp"\n'
CPUS = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("toml", "environ", "workers", "count"),
    [
        ("", {}, 1, 1),
        ("workers = 1\n", {}, 1, 1),
        ("workers = 4\n", {}, 4, 4),
        ("workers = 0\n", {}, 0, CPUS),
        ("workers = 4\n", {"TOLLHOUSE_GATEWAY_WORKERS": "2"}, 2, 2),
        ("workers = 256\n", {}, 256, 256),
    ],
)
def test_workers_accepted(tmp_path, toml, environ, workers, count):
    path = tmp_path / "gateway.toml"
    path.write_text(BASE + toml)
    settings = load_settings(GatewaySettings, path, ENV_PREFIX, environ)
    assert settings.workers == workers
    assert worker_count(settings) == count


@pytest.mark.parametrize(
    ("toml", "environ", "expected"),
    [
        ("workers = -1\n", {}, "gateway.toml: workers: Input should be greater than or equal to 0 (got -1)"),
        ("workers = 257\n", {}, "workers: Input should be less than or equal to 256"),
        ("workers = 1.5\n", {}, "workers: Input should be a valid integer"),
        ('workers = "two"\n', {}, "workers: Input should be a valid integer"),
        ("", {"TOLLHOUSE_GATEWAY_WORKERS": "-2"}, "TOLLHOUSE_GATEWAY_WORKERS: workers: Input should be greater"),
    ],
)
def test_bad_workers_name_the_key(tmp_path, toml, environ, expected):
    path = tmp_path / "gateway.toml"
    path.write_text(BASE + toml)
    with pytest.raises(SettingsError) as caught:
        load_settings(GatewaySettings, path, ENV_PREFIX, environ)
    assert expected in str(caught.value)


def test_negative_workers_stop_the_command_before_anything_starts(tmp_path, capsys):
    path = tmp_path / "gateway.toml"
    path.write_text(BASE + "workers = -1\n")
    with pytest.raises(SystemExit) as caught:
        gateway_main.main(["--config", str(path)])
    assert caught.value.code == 2
    assert "workers: Input should be greater than or equal to 0" in capsys.readouterr().err


def test_a_process_started_by_hand_is_no_worker(monkeypatch):
    monkeypatch.delenv("TOLLHOUSE_WORKER_CHANNEL", raising=False)
    assert SupervisorLink.from_environment() is None
