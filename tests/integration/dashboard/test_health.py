"""/hello: pass when all is well, 503 fail while MongoDB is away, and recovery when it is back."""

from __future__ import annotations


def test_hello_passes(client):
    reply = client.get("/hello")
    assert reply.status_code == 200
    assert reply.json() == {"status": "pass", "details": {"mongodb": {"status": "pass"},
                                                          "redis": {"status": "pass"}}}


def test_hello_fails_while_mongodb_is_down(client, auth, mongo_proc):
    mongo_proc.stop()
    try:
        reply = client.get("/hello")
        assert reply.status_code == 503
        assert reply.json()["status"] == "fail"
        assert reply.json()["details"]["mongodb"]["status"] == "fail"
        assert reply.json()["details"]["mongodb"]["error"]
        assert reply.json()["details"]["redis"] == {"status": "pass"}
        # API calls say the database is away instead of failing with a traceback.
        reply = client.get("/api/apis", headers=auth)
        assert reply.status_code == 503
        assert reply.json() == {"Status": "Error", "Message": "database unavailable, try again later"}
    finally:
        mongo_proc.start()
    assert client.get("/hello").status_code == 200
    assert client.get("/api/apis", headers=auth).status_code == 200
