"""Writing the documents of file mode (``app_path``, ``policy_path``): whole files or nothing.

A file is written under a temporary name in the same directory, flushed to disk and then renamed
over (or, for a new document, linked to) its final name, so a reload never reads half a document
and a crash never leaves one. Temporary names start with a dot and do not end in ``.json``: the
loaders skip them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import tempfile
from pathlib import Path

from tollhouse.gateway.control.router import ControlCall, ControlError

# What may name a document file: the ids of API definitions and policies, never a path.
FILE_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
FILE_MODE = 0o640


def document_path(directory: Path, doc_id: str, field: str = "id") -> Path:
    """``<directory>/<doc_id>.json``; 400 naming ``field`` for an id that could leave the directory."""
    if not FILE_ID.match(doc_id):
        raise ControlError(400, f"{field}: must be 1-128 characters of letters, digits, '.', '_' or '-', "
                                f"not starting with '.'")
    return directory / f"{doc_id}.json"


def _write(path: Path, document: dict, replace: bool) -> bool:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as file:
            json.dump(document, file, indent=2)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, FILE_MODE)
        if replace:
            os.replace(temp, path)
            return True
        try:
            os.link(temp, path)  # fails if the name exists, even when another process just made it
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


async def write_document(path: Path, document: dict, *, replace: bool) -> bool:
    """Write ``document`` to ``path`` atomically; with ``replace=False``, False when it already exists."""
    try:
        return await asyncio.to_thread(_write, path, document, replace)
    except OSError as exc:
        raise ControlError(500, f"cannot write {path}: {exc.strerror or exc}") from None


async def remove_document(path: Path) -> bool:
    try:
        await asyncio.to_thread(path.unlink)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise ControlError(500, f"cannot remove {path}: {exc.strerror or exc}") from None
    return True


async def reloaded(call: ControlCall, reply: dict) -> dict:
    """Reload after a write so the change is live when the caller gets ``reply`` (which says if it is not).

    Live on this process: the gateway's other workers, if any, are asked to reload and do so moments later.
    """
    call.services.reload_peers()
    if not await call.services.reloader.reload_now():
        reply["message"] = f"written, but the reload failed: {call.services.reloader.health.last_error}"
    return reply
