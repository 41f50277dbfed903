"""Login throttling: failed logins counted per email and per client address, in MongoDB.

Each counter is a document ``{_id, failures, window_start, locked_until, expires_at}`` in ``login_failures``;
``_id`` is ``email:<SHA-256 of the lower-cased email>`` (the address itself is not stored) or ``ip:<address>``.
Failures count within a fixed window (``login_failure_window_seconds``) that starts at the first failure;
reaching the limit (``login_max_failures`` per email, ``login_max_failures_per_ip`` per address) locks that
email or address for ``login_lockout_seconds``: every attempt is then answered 429 with ``Retry-After``,
even with the right password, and is not checked. A success clears the email's counter (not the address's,
so one good account does not reset a spraying address). A TTL index drops a counter once its window and
lockout are over; lookups compare times themselves (the server's sweep runs about once a minute).

Counting is shared by every dashboard process using the same database. Unknown emails are counted and locked
exactly like known ones, so neither the messages nor the lockout tell whether an email exists. The address is
the TCP peer's (uvicorn's ``--proxy-headers`` rules apply behind a proxy); many users behind one address share
its limit, which is why that limit is ten times the per-email one by default.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math

from pymongo import ReturnDocument

from tollhouse.dashboard.store import Store, utcnow


class LoginThrottle:
    def __init__(self, store: Store, *, max_failures: int, max_failures_per_ip: int, window_seconds: int,
                 lockout_seconds: int):
        self._failures = store.login_failures
        self._limits = {"email": max_failures, "ip": max_failures_per_ip}
        self._window = dt.timedelta(seconds=window_seconds)
        self._lockout = dt.timedelta(seconds=lockout_seconds)

    def retry_after(self, email: str, address: str | None) -> int | None:
        """Seconds until the email or address may try again, or None if neither is locked."""
        now = utcnow()
        ids = [_email_id(email)] + ([_ip_id(address)] if address else [])
        locked = [document["locked_until"] for document in self._failures.find(
            {"_id": {"$in": ids}, "locked_until": {"$gt": now}}, {"locked_until": 1})]
        if not locked:
            return None
        return max(1, math.ceil((max(locked) - now).total_seconds()))

    def failed(self, email: str, address: str | None) -> None:
        self._count(_email_id(email), "email")
        if address:
            self._count(_ip_id(address), "ip")

    def succeeded(self, email: str) -> None:
        self._failures.delete_one({"_id": _email_id(email)})

    def _count(self, counter_id: str, kind: str) -> None:
        now = utcnow()
        document = self._failures.find_one_and_update(
            {"_id": counter_id, "window_start": {"$gt": now - self._window}},
            {"$inc": {"failures": 1}}, return_document=ReturnDocument.AFTER)
        if document is None:  # no counter, or its window is over: start a new one
            # Two processes starting one at the same moment may count one failure too few: harmless.
            self._failures.update_one(
                {"_id": counter_id},
                {"$set": {"failures": 1, "window_start": now, "locked_until": None, "expires_at": now + self._window}},
                upsert=True)
            document = {"failures": 1}
        if document["failures"] >= self._limits[kind]:
            until = now + self._lockout
            self._failures.update_one({"_id": counter_id},
                                      {"$set": {"locked_until": until, "expires_at": max(until, now + self._window)}})


def _email_id(email: str) -> str:
    return "email:" + hashlib.sha256(email.strip().lower().encode()).hexdigest()


def _ip_id(address: str) -> str:
    return "ip:" + address[:100]
