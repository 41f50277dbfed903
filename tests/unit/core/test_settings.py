import pytest

from tollhouse.core.settings import SettingsError, load_settings
from tollhouse.gateway.settings import ENV_PREFIX, GatewaySettings

SECRET = "s" * 32
# Required beside the control secret: the HMAC key of stored API keys.
KEY_HASH = f'key_hash_secret = "{"k" * 32}"\n'


def write(tmp_path, text):
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def test_file_then_environment(tmp_path):
    path = write(tmp_path, KEY_HASH + f'secret = "{SECRET}"\napp_path = "/tmp"\nlisten_port = 8081\n')
    settings = load_settings(GatewaySettings, path, ENV_PREFIX, {"TOLLHOUSE_GATEWAY_LISTEN_PORT": "9090"})
    assert settings.listen_port == 9090
    assert str(settings.app_path) == "/tmp"


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        (KEY_HASH + f'secret = "{SECRET}"\napp_path = "/tmp"\nlisen_port = 1\n', {}, "lisen_port: unknown key"),
        (KEY_HASH + f'secret = "{SECRET}"\napp_path = "/tmp"\nlisten_port = "abc"\n', {}, "listen_port:"),
        (KEY_HASH + f'secret = "{SECRET}"\napp_path = "/tmp"\nlisten_port = 70000\n', {}, "listen_port:"),
        (KEY_HASH + 'app_path = "/tmp"\n', {}, "toml: secret: required key is missing"),
        (KEY_HASH + 'secret = "changeme"\napp_path = "/tmp"\n', {}, "secret: secret is a well-known default"),
        (KEY_HASH + 'secret = "short"\napp_path = "/tmp"\n', {}, "at least 16 characters"),
        (KEY_HASH + f'secret = "{SECRET}"\n', {}, "set exactly one of dashboard_url"),
        (KEY_HASH + f'secret = "{SECRET}"\ndashboard_url = "http://d:3000"\n', {}, "node_secret is required"),
        (KEY_HASH + f'secret = "{SECRET}"\ndashboard_url = "ftp://d"\nnode_secret = "{SECRET}"\n', {},
         "dashboard_url:"),
        (KEY_HASH + f'secret = "{SECRET}"\napp_path = "/tmp"\nredis_url = "localhost:6379"\n', {}, "redis_url:"),
        (KEY_HASH + f'secret = "{SECRET}"\napp_path = "/tmp"\n', {"TOLLHOUSE_GATEWAY_LISTEN_PROT": "1"},
         "TOLLHOUSE_GATEWAY_LISTEN_PROT: unknown setting"),
        (KEY_HASH + f'secret = "{SECRET}"\napp_path = "/tmp"\n', {"TOLLHOUSE_GATEWAY_LISTEN_PORT": "x"},
         "TOLLHOUSE_GATEWAY_LISTEN_PORT: listen_port:"),
        (f'secret = "{SECRET}"\napp_path = "/tmp"\n', {}, "toml: key_hash_secret: required key is missing"),
        (f'secret = "{SECRET}"\nkey_hash_secret = "changeme"\napp_path = "/tmp"\n', {},
         "key_hash_secret: key_hash_secret is a well-known default"),
        (f'secret = "{SECRET}"\nkey_hash_secret = "short"\napp_path = "/tmp"\n', {},
         "key_hash_secret: key_hash_secret must be at least 16 characters"),
        ("secret = \n", {}, "is not valid TOML"),
    ],
)
def test_bad_settings_name_the_key(tmp_path, text, environ, expected):
    with pytest.raises(SettingsError) as caught:
        load_settings(GatewaySettings, write(tmp_path, text), ENV_PREFIX, environ)
    assert expected in str(caught.value)


def test_secret_values_are_not_echoed(tmp_path):
    with pytest.raises(SettingsError) as caught:
        load_settings(GatewaySettings, write(tmp_path, 'secret = "tooshort"\nkey_hash_secret = "alsoshort"\n'
                                                       'app_path = "/tmp"\n'), ENV_PREFIX, {})
    assert "tooshort" not in str(caught.value)
    assert "alsoshort" not in str(caught.value)


def test_missing_file(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(GatewaySettings, tmp_path / "nope.toml", ENV_PREFIX, {})
