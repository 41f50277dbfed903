"""A MongoDB-wire server that stores nothing: it answers at once and only counts inserted documents.

The pump benchmark drains into it to measure the pump on its own: with a real database behind the
wire, the database's insert cost is part of every figure (and the lab's SecantusDB is far slower
than a MongoDB, see bench/README.md). It speaks just enough of the protocol for pymongo and the
pump: the handshake (legacy OP_QUERY), then OP_MSG commands hello, ping, listCollections, create,
createIndexes, insert, count, drop and dropDatabase. Anything else is answered "command not found".

    .venv/bin/python bench/null_mongo.py --port 27017
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import struct
from datetime import UTC, datetime

import bson

OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
HEADER = struct.Struct("<iiii")  # messageLength, requestID, responseTo, opCode
MORE_TO_COME = 1 << 1  # OP_MSG flag: the client expects no reply (w:0 writes)
COMMAND_NOT_FOUND = 59


class NullStore:
    """What the commands remember: collection options and how many documents each was sent."""

    def __init__(self):
        self.options: dict[str, dict] = {}  # namespace -> create options
        self.inserted: dict[str, int] = {}  # namespace -> documents received
        self.connections = itertools.count(1)

    def run(self, command: dict, documents: int, connection_id: int) -> dict:
        name = next(iter(command))
        database = command.get("$db", "admin")
        namespace = f"{database}.{command[name]}" if isinstance(command[name], str) else ""
        match name.lower():
            case "hello" | "ismaster":
                return hello(connection_id)
            case "ping" | "endsessions" | "createindexes":
                return {"ok": 1.0}
            case "buildinfo":
                return {"version": "7.0.0-null", "versionArray": [7, 0, 0, 0], "ok": 1.0}
            case "create":
                self.options[namespace] = {k: v for k, v in command.items() if k not in (name, "$db", "lsid")}
                return {"ok": 1.0}
            case "listcollections":
                return self._list_collections(database, command.get("filter") or {})
            case "insert":
                documents += len(command.get("documents", ()))
                self.inserted[namespace] = self.inserted.get(namespace, 0) + documents
                return {"n": documents, "ok": 1.0}
            case "count":
                return {"n": self.inserted.get(namespace, 0), "ok": 1.0}
            case "drop":
                self.options.pop(namespace, None)
                self.inserted.pop(namespace, None)
                return {"ok": 1.0}
            case "dropdatabase":
                for known in [ns for ns in {*self.options, *self.inserted} if ns.startswith(f"{database}.")]:
                    self.options.pop(known, None)
                    self.inserted.pop(known, None)
                return {"ok": 1.0}
        return {"ok": 0.0, "code": COMMAND_NOT_FOUND, "errmsg": f"no such command: '{name}' (null server)"}

    def _list_collections(self, database: str, query: dict) -> dict:
        batch = []
        for namespace, options in self.options.items():
            owner, _, collection = namespace.partition(".")
            if owner == database and query.get("name", collection) == collection:
                batch.append({"name": collection, "type": "collection", "options": options})
        return {"cursor": {"id": 0, "ns": f"{database}.$cmd.listCollections", "firstBatch": batch}, "ok": 1.0}


def hello(connection_id: int) -> dict:
    # No topologyVersion: pymongo then polls instead of holding an awaitable hello open.
    return {
        "ismaster": True, "isWritablePrimary": True, "helloOk": True, "maxBsonObjectSize": 16 * 1024 * 1024,
        "maxMessageSizeBytes": 48_000_000, "maxWriteBatchSize": 100_000, "localTime": datetime.now(UTC),
        "logicalSessionTimeoutMinutes": 30, "connectionId": connection_id, "minWireVersion": 0,
        "maxWireVersion": 21, "readOnly": False, "ok": 1.0,
    }


def count_documents(sequence: memoryview) -> int:
    """Documents in an OP_MSG document sequence, by their length prefixes (nothing is decoded)."""
    count = position = 0
    while position < len(sequence):
        position += int.from_bytes(sequence[position : position + 4], "little")
        count += 1
    return count


def parse_msg(body: memoryview) -> tuple[int, dict, int]:
    """(flags, command, documents sent in document sequences) of an OP_MSG body."""
    flags, position = int.from_bytes(body[:4], "little"), 4
    command, documents = {}, 0
    while position < len(body):
        kind, position = body[position], position + 1
        size = int.from_bytes(body[position : position + 4], "little")
        if kind == 0:
            command = bson.decode(body[position : position + size])
        else:  # a document sequence: int32 size, cstring identifier, documents
            name_end = bytes(body[position + 4 : position + size]).index(b"\0") + position + 5
            documents += count_documents(body[name_end : position + size])
        position += size
    return flags, command, documents


def parse_query(body: memoryview) -> dict:
    """The command document of a legacy OP_QUERY (only the handshake uses it)."""
    name_end = bytes(body[4:]).index(b"\0") + 4
    start = name_end + 1 + 8  # numberToSkip, numberToReturn
    size = int.from_bytes(body[start : start + 4], "little")
    return bson.decode(body[start : start + size])


def frame(request_id: int, op_code: int, payload: bytes) -> bytes:
    return HEADER.pack(HEADER.size + len(payload), 0, request_id, op_code) + payload


async def serve(store: NullStore, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    connection_id = next(store.connections)
    try:
        while True:
            length, request_id, _, op_code = HEADER.unpack(await reader.readexactly(HEADER.size))
            body = memoryview(await reader.readexactly(length - HEADER.size))
            if op_code == OP_MSG:
                flags, command, documents = parse_msg(body)
                reply = store.run(command, documents, connection_id)
                if not flags & MORE_TO_COME:
                    writer.write(frame(request_id, OP_MSG, b"\0\0\0\0\0" + bson.encode(reply)))
            elif op_code == OP_QUERY:
                reply = store.run(parse_query(body), 0, connection_id)
                # responseFlags, cursorID, startingFrom, numberReturned, then the one document
                writer.write(frame(request_id, OP_REPLY, struct.pack("<iqii", 0, 0, 0, 1) + bson.encode(reply)))
            else:
                break  # OP_COMPRESSED and the removed legacy opcodes: the pump sends none of them
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(host: str, port: int) -> None:
    store = NullStore()
    server = await asyncio.start_server(lambda r, w: serve(store, r, w), host, port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=27017)
    args = parser.parse_args()
    asyncio.run(main(args.host, args.port))
