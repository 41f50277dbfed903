"""Signed change notifications from the dashboard to every gateway, over Redis pub/sub.

Messages are Tyk-shaped JSON ``{"command", "payload", "signature"}``. The signature is
HMAC-SHA256 keyed with the node secret over ``command + "\\n" + payload`` (Tyk hashes the
concatenation with the secret; an HMAC cannot be extended or forged without the key).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

CHANNEL = "tyk.cluster.notifications"

API_UPDATED = "ApiUpdated"
API_ADDED = "ApiAdded"
API_REMOVED = "ApiRemoved"
POLICY_CHANGED = "PolicyChanged"
GROUP_RELOAD = "GroupReload"
COMMANDS = frozenset({API_UPDATED, API_ADDED, API_REMOVED, POLICY_CHANGED, GROUP_RELOAD})


class BadNotification(ValueError):
    """A message on the channel that is not a correctly signed notification."""


@dataclass(frozen=True)
class Notification:
    command: str
    payload: str


def _signature(secret: str, command: str, payload: str) -> str:
    message = f"{command}\n{payload}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def encode(secret: str, command: str, payload: str = "") -> str:
    if command not in COMMANDS:
        raise ValueError(f"unknown notification command {command!r}")
    return json.dumps({"command": command, "payload": payload, "signature": _signature(secret, command, payload)})


def decode(secret: str, message: str | bytes) -> Notification:
    """Parse and verify a message; raise ``BadNotification`` saying what is wrong."""
    try:
        data = json.loads(message)
    except (ValueError, UnicodeDecodeError):
        raise BadNotification("not JSON") from None
    if not isinstance(data, dict):
        raise BadNotification("not a JSON object")
    command, payload, signature = data.get("command"), data.get("payload", ""), data.get("signature")
    if not isinstance(command, str) or command not in COMMANDS:
        raise BadNotification(f"unknown command {command!r}")
    if not isinstance(payload, str):
        raise BadNotification("payload is not a string")
    if not isinstance(signature, str) or not signature:
        raise BadNotification("unsigned")
    if not hmac.compare_digest(signature, _signature(secret, command, payload)):
        raise BadNotification("bad signature")
    return Notification(command, payload)
