import pytest

from tollhouse.core.settings import SettingsError, load_settings
from tollhouse.pump.main import main
from tollhouse.pump.settings import ENV_PREFIX, PumpSettings
from tollhouse.pump.sinks import build_sinks
from tollhouse.pump.sinks.aggregate import MongoAggregateSink
from tollhouse.pump.sinks.mongo import MongoRawSink

MONGO = 'mongo_url = "mongodb://127.0.0.1:1/"\n'


def run_main(tmp_path, text: str, capsys, monkeypatch, env: dict | None = None) -> str:
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "pump.toml"
    config.write_text(text)
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(config)])
    assert exit_info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(("text", "named"), [
    (MONGO + "purge_chunk = 0\n", "purge_chunk"),
    (MONGO + "purge_delay = -1\n", "purge_delay"),
    (MONGO + "raw_collection_max_bytes = 10\n", "raw_collection_max_bytes"),
    (MONGO + "purge_chnk = 10\n", "purge_chnk: unknown key"),
    ('mongo_url = "http://x"\n', "mongo_url: must be a mongodb:// URL"),
    ("", "mongo_url: required key is missing"),
    (MONGO + 'sinks = ["mongo", "kafka"]\n', "sinks: unknown sink type 'kafka'"),
    (MONGO + "aggregate_max_endpoints = 0\n", "aggregate_max_endpoints"),
    (MONGO + 'aggregate_hour_collection = "tyk_analytics"\n', "must be three different collections"),
])
def test_settings_errors_name_the_key_and_exit_2(tmp_path, capsys, monkeypatch, text, named):
    assert named in run_main(tmp_path, text, capsys, monkeypatch)


def test_environment_override_errors_name_the_variable(tmp_path, capsys, monkeypatch):
    err = run_main(tmp_path, MONGO, capsys, monkeypatch, {"TOLLHOUSE_PUMP_PURGE_CHUNK": "lots"})
    assert "TOLLHOUSE_PUMP_PURGE_CHUNK: purge_chunk" in err


def test_missing_config_file_is_a_settings_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(tmp_path / "absent.toml")])
    assert exit_info.value.code == 2
    assert "does not exist" in capsys.readouterr().err


def test_registry_builds_the_mongo_sink_by_default():
    settings = load_settings(PumpSettings, None, ENV_PREFIX, environ={"TOLLHOUSE_PUMP_MONGO_URL": "mongodb://h/"})
    [sink] = build_sinks(settings)
    assert isinstance(sink, MongoRawSink) and sink.type_name == "mongo" and sink.component == "mongodb"


def test_the_aggregate_sink_is_enabled_by_listing_it():
    environ = {"TOLLHOUSE_PUMP_MONGO_URL": "mongodb://h/", "TOLLHOUSE_PUMP_SINKS": '["mongo", "mongo_aggregate"]',
               "TOLLHOUSE_PUMP_PUMP_ID": "pump-1.lab"}
    raw, aggregate = build_sinks(load_settings(PumpSettings, None, ENV_PREFIX, environ=environ))
    assert isinstance(raw, MongoRawSink) and isinstance(aggregate, MongoAggregateSink)
    assert aggregate.component == "mongodb_aggregate" and aggregate.applied_field == "applied.pump-1%2Elab"


def test_a_sink_listed_twice_is_refused():
    environ = {"TOLLHOUSE_PUMP_MONGO_URL": "mongodb://h/", "TOLLHOUSE_PUMP_SINKS": '["mongo", "mongo"]'}
    with pytest.raises(SettingsError, match="TOLLHOUSE_PUMP_SINKS: sinks: a sink type is listed twice"):
        load_settings(PumpSettings, None, ENV_PREFIX, environ=environ)


def test_check_config_exits_0_without_starting(tmp_path, capsys):
    config = tmp_path / "pump.toml"
    config.write_text(MONGO)
    with pytest.raises(SystemExit) as exit_info:
        main(["--config", str(config), "--check-config"])
    assert exit_info.value.code == 0 and "settings OK" in capsys.readouterr().out
