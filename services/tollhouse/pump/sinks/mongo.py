"""The raw MongoDB sink: every record as one document in a capped collection (Tyk's ``mongo`` pump).

``request_id`` becomes ``_id`` and inserts are unordered, so a duplicate-key error means "already
stored" and re-delivered batches are stored once. ``timestamp`` is stored as a BSON date so the
dashboard can range-query and group by time; all other fields stay as the gateway wrote them.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import bson
from bson.raw_bson import RawBSONDocument
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.errors import BulkWriteError, InvalidDocument, OperationFailure

from tollhouse.pump.settings import PumpSettings
from tollhouse.pump.sinks import Rejection, Sink, register

log = logging.getLogger(__name__)

# MongoDB's document size limit; pymongo would fail the whole insert for one oversized document.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
DUPLICATE_KEY = 11000
NAMESPACE_EXISTS = 48
# Per-document write errors that say "not now" rather than "never": the batch is retried.
TRANSIENT_CODES = frozenset({
    6, 7, 50, 89, 91, 112, 189, 262, 9001,  # host unreachable/not found, time limit, network, shutdown
    10107, 11600, 11602, 13435, 13436,  # not primary, interrupted at shutdown / stepdown
    64, 100,  # write concern failed / unsatisfiable
})
# The log browser (dashboard/analytics.py) reads one organisation's records over a time range, newest
# first: all of them, one API's, one key's or one status code's (its other filters are checked on what
# these find; ``LogFilter.server_side`` picks the one index).
RAW_INDEXES = (
    [("timestamp", DESCENDING)],
    [("api_id", ASCENDING), ("timestamp", DESCENDING)],
    [("org_id", ASCENDING), ("timestamp", DESCENDING)],
    [("org_id", ASCENDING), ("api_id", ASCENDING), ("timestamp", DESCENDING)],
    [("org_id", ASCENDING), ("api_key", ASCENDING), ("timestamp", DESCENDING)],
    [("org_id", ASCENDING), ("response_code", ASCENDING), ("timestamp", DESCENDING)],
)


class MongoUnavailable(Exception):
    """The server refused the batch for a reason that may pass (it is retried)."""


class NotStorable(ValueError):
    """The record can never become a MongoDB document."""


class MongoSink(Sink):
    """What the MongoDB sinks share: one client, opened by ``connect()``, and its health check."""

    def __init__(self, settings: PumpSettings):
        self.settings = settings
        self.client: AsyncMongoClient | None = None

    def connect(self) -> None:
        if self.client is None:
            timeout_ms = int(self.settings.sink_timeout_seconds * 1000)
            self.client = AsyncMongoClient(
                self.settings.mongo_url, tz_aware=True, appname="tollhouse-pump",
                serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=min(timeout_ms, 10_000),
            )

    async def shutdown(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    async def check(self) -> None:
        if self.client is None:
            raise MongoUnavailable("not connected yet")
        await self.client.admin.command("ping")


@register("mongo")
class MongoRawSink(MongoSink):
    component = "mongodb"

    async def init(self) -> None:
        self.connect()
        await self._ensure_capped_collection()
        await self._ensure_indexes()

    async def write(self, batch: list[dict]) -> list[Rejection]:
        rejections, documents, positions = [], [], []
        for index, record in enumerate(batch):
            try:
                documents.append(to_document(record))
                positions.append(index)
            except NotStorable as exc:
                rejections.append(Rejection(index, str(exc)))
        if documents:
            refused = await self._insert(documents)
            rejections.extend(Rejection(positions[i], reason) for i, reason in refused)
        return rejections

    @property
    def _collection(self):
        assert self.client is not None, "init() first"
        return self.client[self.settings.mongo_database][self.settings.raw_collection]

    async def _insert(self, documents: list[RawBSONDocument]) -> list[tuple[int, str]]:
        try:
            await self._collection.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            return refused_documents(exc.details)
        return []

    async def _ensure_capped_collection(self) -> None:
        database = self.client[self.settings.mongo_database]
        name, max_bytes = self.settings.raw_collection, self.settings.raw_collection_max_bytes
        if not await database.list_collection_names(filter={"name": name}):
            try:
                await database.command("create", name, capped=True, size=max_bytes)
                log.info("created capped collection %s (%d bytes)", name, max_bytes)
            except OperationFailure as exc:
                if exc.code != NAMESPACE_EXISTS:  # another pump created it first
                    raise
        options = await database[name].options()
        if not options.get("capped"):
            # Not converted: convertToCapped rewrites the collection under a lock (and the lab's
            # MongoDB-wire server lacks it); the operator decides.
            log.warning("collection %s exists and is not capped; analytics can grow without bound", name)

    async def _ensure_indexes(self) -> None:
        for keys in RAW_INDEXES:
            try:
                await self._collection.create_index(keys)
            except OperationFailure as exc:
                # An equivalent index made by someone else under another name still serves.
                log.warning("could not create index %s on %s: %s", keys, self.settings.raw_collection, exc)


def to_document(record: dict) -> RawBSONDocument:
    """The record as encoded BSON, ``_id`` from ``request_id``, ``timestamp`` as a date."""
    request_id = record["request_id"]
    if not isinstance(request_id, str) or not request_id:
        raise NotStorable(f"request_id must be a non-empty string (got {request_id!r:.80})")
    # _id first (MongoDB keeps it first anyway); a stray "_id" in the record must not replace it.
    fields = {key: value for key, value in record.items() if key != "_id"}
    document = {"_id": request_id, **fields, "timestamp": parse_timestamp(record["timestamp"])}
    try:
        encoded = bson.encode(document)
    except (InvalidDocument, OverflowError) as exc:
        raise NotStorable(f"not a valid BSON document: {exc}") from None
    if len(encoded) > MAX_DOCUMENT_BYTES:
        raise NotStorable(f"document is {len(encoded)} bytes, over MongoDB's {MAX_DOCUMENT_BYTES}")
    return RawBSONDocument(encoded)


def parse_timestamp(value: object) -> datetime:
    if not isinstance(value, str):
        raise NotStorable(f"timestamp is not a string (got {value!r:.80})")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise NotStorable(f"timestamp is not ISO 8601 (got {value!r:.80})") from None
    # The gateway writes UTC; a timestamp without an offset is taken as UTC too.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def refused_documents(details: dict) -> list[tuple[int, str]]:
    """Documents the server refused for good, as (position, reason); raise if any may pass."""
    if details.get("writeConcernErrors"):
        first = details["writeConcernErrors"][0]
        raise MongoUnavailable(f"write concern not satisfied: {first.get('errmsg')}")
    refused = []
    for error in details.get("writeErrors", []):
        code = error.get("code")
        if code == DUPLICATE_KEY:
            continue  # stored by an earlier delivery of the same record
        if code in TRANSIENT_CODES:
            raise MongoUnavailable(f"write error {code}: {error.get('errmsg')}")
        refused.append((error["index"], f"mongodb refused the document (code {code}): {error.get('errmsg')}"))
    return refused
