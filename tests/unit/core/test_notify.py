import json

import pytest

from tollhouse.core import notify

SECRET = "n" * 32


def test_round_trip():
    message = notify.encode(SECRET, notify.API_UPDATED, "api-1")
    assert notify.decode(SECRET, message) == notify.Notification("ApiUpdated", "api-1")


def tampered(**changes):
    data = json.loads(notify.encode(SECRET, notify.API_ADDED, "api-1"))
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("{not json", "not JSON"),
        ("[1]", "not a JSON object"),
        (tampered(signature=""), "unsigned"),
        (json.dumps({"command": "ApiAdded", "payload": "x"}), "unsigned"),
        (tampered(payload="api-2"), "bad signature"),
        (tampered(command="ApiRemoved"), "bad signature"),
        (tampered(command="Explode"), "unknown command"),
        (notify.encode("w" * 32, notify.API_ADDED, "api-1"), "bad signature"),
    ],
)
def test_bad_messages_are_refused(message, reason):
    with pytest.raises(notify.BadNotification, match=reason):
        notify.decode(SECRET, message)
