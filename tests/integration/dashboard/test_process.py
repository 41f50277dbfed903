"""The installed ``tollhouse-dashboard`` command, run as a service manager would run it."""

from __future__ import annotations

import signal
import subprocess

import httpx

from tests.integration.dashboard.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, KEY_HASH_SECRET, NODE_SECRET, definition
from tests.servers import VENV_BIN, free_port, service


def write_config(path, **values) -> None:
    path.write_text("".join(f"{key} = {value!r}\n" if isinstance(value, str) else f"{key} = {value}\n"
                            for key, value in values.items()))


def test_serves_on_the_configured_port_and_stops_cleanly(tmp_path, mongo_url, mongo_db_name, redis_url,
                                                          admin_password_hash):
    port = free_port()
    config = tmp_path / "dashboard.toml"
    write_config(config, listen_address="127.0.0.1", listen_port=port, mongo_url=mongo_url,
                 mongo_database=mongo_db_name, redis_url=redis_url, node_secret=NODE_SECRET,
                 key_hash_secret=KEY_HASH_SECRET, org_name="Example Org", admin_email=ADMIN_EMAIL,
                 admin_password_hash=admin_password_hash)
    server = service("dashboard", config, port, tmp_path).start()
    try:
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/hello").json()["status"] == "pass"
        token = httpx.post(f"{base}/api/login", json={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
                           ).json()["access_token"]
        reply = httpx.post(f"{base}/api/apis", headers={"authorization": token},
                           json={"api_definition": definition(api_id="via-process")})
        assert reply.json()["Meta"] == "via-process"
        listed = httpx.get(f"{base}/system/apis", headers={"authorization": NODE_SECRET}).json()["Message"]
        assert [api["api_id"] for api in listed] == ["via-process"]
    finally:
        server.stop()
    # uvicorn re-raises SIGTERM after its graceful shutdown; systemd counts that as a clean stop.
    assert server.process.returncode in (0, -signal.SIGTERM), server.log()
    assert "Application shutdown complete." in server.log()
    assert '"level": "info"' in server.log()  # JSON log lines by default


def test_bad_settings_exit_2_without_traceback(tmp_path):
    config = tmp_path / "dashboard.toml"
    write_config(config, mongo_url="mongodb://127.0.0.1:1/", node_secret=NODE_SECRET,
                 key_hash_secret=KEY_HASH_SECRET, org_name="O",
                 admin_email=ADMIN_EMAIL, admin_password_hash="plain-text-password")
    result = subprocess.run([str(VENV_BIN / "tollhouse-dashboard"), "--config", str(config)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "admin_password_hash: must be a bcrypt hash" in result.stderr
    assert "Traceback" not in result.stderr
