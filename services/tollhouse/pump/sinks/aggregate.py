"""The aggregate sink (``mongo_aggregate``): per-minute and per-hour counts per API, for the dashboard's charts.

Each batch is folded in Python into one increment per document (``tally.py``; the document is described in
``core/aggregates.py``) and written as one unordered ``bulk_write`` of ``$inc`` upserts per granularity, so
a chart over 24 hours reads a few thousand small documents instead of millions of records.

Idempotence. A batch can reach the sink again: the drain retries a sink whose write failed or timed out
(the first attempt may still have landed, whole or in part), and after a crash the pump re-delivers the
batch it had in flight. Counting it twice must not happen, and there is no multi-document transaction to
lean on (nor a replica set, on the lab's server), so the guard is per document, inside the one atomic
update of that document: each document keeps, per pump, the id of the last batch it counted
(``applied.<pump_id>``), and the upsert only matches a document that does not have this batch's id yet::

    update_one({_id, "applied.<pump>": {$ne: <batch id>}}, {$inc: ..., $set: {"applied.<pump>": <batch id>}},
               upsert=True)

On a document that already counted the batch the filter matches nothing, the upsert tries to insert the
same ``_id`` and the server answers a duplicate-key error: the batch is skipped there. A duplicate-key
error can also mean another pump created the document a moment earlier; the sink tells the two apart by
reading the documents back (is our batch id there?) and re-sends the others.

Why the last batch per pump is enough: a pump handles one batch at a time, retries it until every sink has
it, and re-delivers only its own unacknowledged batch (``queue.py``), before claiming a new one. So any
batch that arrives again is that pump's latest for every document it touches. The batch id is a hash of
the batch's request ids, the same whichever delivery, and so is the set of records (the processing list
holds exactly the batch). What the guarantee does not cover, stated plainly:
- two pump processes started with the same ``pump_id`` (they also share an in-flight list, which is
  already a misconfiguration);
- a record pushed to Redis twice by a gateway and claimed in two different batches is counted twice here
  (the raw sink stores it once, by ``_id``).

Caps. ``keys`` and ``endpoints`` hold at most ``aggregate_max_keys`` / ``aggregate_max_endpoints`` names per
document; the rest of the traffic is counted under ``"(other)"``, so a document cannot grow without bound
(MongoDB's limit is 16 MB per document). The sink learns a document's names with one read and remembers
them (``known_entries.py``); with several pumps writing the same document, each may fill the room it
believes is left, so the cap is soft: at most the cap times the number of pumps.

Retention: a TTL index on ``t`` per collection (``aggregate_*_retention_days``); changing the setting changes
the index at the next start.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from pymongo import ASCENDING, UpdateOne
from pymongo.errors import BulkWriteError, OperationFailure

from tollhouse.core.aggregates import GRANULARITIES, escape_name, unescape_name
from tollhouse.pump.settings import PumpSettings
from tollhouse.pump.sinks import Rejection, register
from tollhouse.pump.sinks.known_entries import DocumentEntries, KnownEntries
from tollhouse.pump.sinks.mongo import DUPLICATE_KEY, TRANSIENT_CODES, MongoSink, MongoUnavailable
from tollhouse.pump.sinks.tally import BucketTally, Counted, NotCountable, batch_id, cap_entries, counted, fold

log = logging.getLogger(__name__)

# Documents whose names are remembered for the caps (a few per API are in use at any time).
KNOWN_DOCUMENTS = 4096
# Rounds of "re-send the upserts that lost a creation race to another pump" before giving up on the batch
# for now (it is retried whole, which is harmless).
UPSERT_ROUNDS = 3
INDEX_OPTIONS_CONFLICT = (85, 86)  # IndexOptionsConflict; IndexKeySpecsConflict (same name, other options)
TTL_INDEX = "retention_ttl"


@register("mongo_aggregate")
class MongoAggregateSink(MongoSink):
    component = "mongodb_aggregate"

    def __init__(self, settings: PumpSettings):
        super().__init__(settings)
        self.known = KnownEntries(KNOWN_DOCUMENTS)
        # A field name: pump ids may hold dots.
        self.applied_field = f"applied.{escape_name(settings.pump_id)}"

    async def init(self) -> None:
        self.connect()
        for granularity in GRANULARITIES:
            await self._ensure_indexes(granularity)

    async def write(self, batch: list[dict]) -> list[Rejection]:
        records, rejections = [], []
        for index, record in enumerate(batch):
            try:
                records.append(counted(index, record))
            except NotCountable as exc:
                rejections.append(Rejection(index, str(exc)))
        if records:
            for granularity in GRANULARITIES:
                rejections.extend(await self.write_counted(records, granularity))
        return rejections

    async def write_counted(self, records: list[Counted], granularity: str) -> list[Rejection]:
        """Add checked records to one granularity's documents (``write`` does both)."""
        tallies = fold(records, granularity)
        await self._apply_caps(granularity, tallies)
        return await self._upsert(granularity, tallies, batch_id(records))

    def collection(self, granularity: str):
        assert self.client is not None, "init() first"
        name = {"minute": self.settings.aggregate_minute_collection,
                "hour": self.settings.aggregate_hour_collection}[granularity]
        return self.client[self.settings.mongo_database][name]

    async def _apply_caps(self, granularity: str, tallies: dict[str, BucketTally]) -> None:
        tallies = {doc_id: tally for doc_id, tally in tallies.items() if not tally.all_apis}
        missing = self.known.missing(granularity, list(tallies))
        if missing:
            stored = self.collection(granularity).find({"_id": {"$in": missing}}, {"keys": 1, "endpoints": 1})
            async for document in stored:
                self.known.remember(granularity, document["_id"], DocumentEntries(
                    keys={unescape_name(name) for name in document.get("keys") or {}},
                    endpoints={unescape_name(name) for name in document.get("endpoints") or {}},
                ))
        for doc_id, tally in tallies.items():
            names = self.known.of(granularity, doc_id)
            cap_entries(tally.keys, names.keys, self.settings.aggregate_max_keys)
            cap_entries(tally.endpoints, names.endpoints, self.settings.aggregate_max_endpoints)

    async def _upsert(self, granularity: str, tallies: dict[str, BucketTally], batch: str) -> list[Rejection]:
        collection, pending, rejections = self.collection(granularity), list(tallies.values()), []
        for _ in range(UPSERT_ROUNDS):
            operations = [
                UpdateOne({"_id": tally.doc_id, self.applied_field: {"$ne": batch}},
                          tally.update(self.applied_field, batch), upsert=True)
                for tally in pending
            ]
            try:
                await collection.bulk_write(operations, ordered=False)
                return rejections
            except BulkWriteError as exc:
                collided, refused = classify_write_errors(exc.details)
            for position, reason in refused:
                tally = pending[position]
                log.error("aggregate document %s refused the batch's counts: %s", tally.doc_id, reason)
                rejections.extend(Rejection(index, f"{granularity} aggregate: {reason}") for index in tally.indexes)
            retry = [pending[position] for position in collided]
            if not retry:
                return rejections
            counted_already = collection.find(
                {"_id": {"$in": [tally.doc_id for tally in retry]}, self.applied_field: batch}, {"_id": 1})
            done = {document["_id"] async for document in counted_already}
            pending = [tally for tally in retry if tally.doc_id not in done]
            if not pending:
                return rejections
            log.debug("%d %s documents were created by another pump meanwhile; adding to them",
                      len(pending), granularity)
        raise MongoUnavailable(f"{len(pending)} {granularity} aggregate documents kept colliding with other writers")

    async def _ensure_indexes(self, granularity: str) -> None:
        collection = self.collection(granularity)
        # Charts read one organisation's documents over a time range, of one API or of all.
        for keys, name in (([("org_id", ASCENDING), ("api_id", ASCENDING), ("t", ASCENDING)], "org_api_time"),
                           ([("org_id", ASCENDING), ("t", ASCENDING)], "org_time")):
            try:
                await collection.create_index(keys, name=name)
            except OperationFailure as exc:
                log.warning("could not create index %s on %s: %s", name, collection.name, exc)
        days = {"minute": self.settings.aggregate_minute_retention_days,
                "hour": self.settings.aggregate_hour_retention_days}[granularity]
        # Kept for the retention counted from the end of the bucket.
        seconds = int((timedelta(days=days) + GRANULARITIES[granularity]).total_seconds())
        try:
            await collection.create_index([("t", ASCENDING)], name=TTL_INDEX, expireAfterSeconds=seconds)
        except OperationFailure as exc:
            if exc.code not in INDEX_OPTIONS_CONFLICT:
                raise
            # The retention setting changed since the index was made: change the index in place.
            await collection.database.command("collMod", collection.name,
                                              index={"name": TTL_INDEX, "expireAfterSeconds": seconds})
            log.info("retention of %s changed to %d days", collection.name, days)


def classify_write_errors(details: dict) -> tuple[list[int], list[tuple[int, str]]]:
    """(positions refused as duplicates, positions refused for good with the reason); raise if any may pass."""
    if details.get("writeConcernErrors"):
        first = details["writeConcernErrors"][0]
        raise MongoUnavailable(f"write concern not satisfied: {first.get('errmsg')}")
    collided, refused = [], []
    for error in details.get("writeErrors", []):
        code = error.get("code")
        if code == DUPLICATE_KEY:
            collided.append(error["index"])
        elif code in TRANSIENT_CODES:
            raise MongoUnavailable(f"write error {code}: {error.get('errmsg')}")
        else:
            refused.append((error["index"], f"mongodb refused the update (code {code}): {error.get('errmsg')}"))
    return collided, refused
