"""An endpoint's name for the aggregates: the method and the path with its ids replaced by ``{id}``.

``GET /orders/1234`` and ``GET /orders/98`` are one endpoint to the people reading the charts, and
counting them apart would make one entry per order. A path segment is taken for an id when it is all
digits, a UUID, 16 or more hex digits, or 24 or more characters with a digit among them (tokens,
base64 ids). Whatever still varies (slugs, names) is bounded by the per-document entry cap instead.
"""

from __future__ import annotations

import re

ID = "{id}"
MAX_NAME_LENGTH = 200
_ID_SEGMENT = re.compile(
    r"\d+"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{16,}"
    r"|(?=[^/]*\d)[^/]{24,}"
)


def path_template(path: str) -> str:
    path = path.split("?", 1)[0]
    return "/".join(ID if _ID_SEGMENT.fullmatch(segment) else segment for segment in path.split("/"))


def endpoint_name(method: str, path: str) -> str:
    return f"{method.upper()} {path_template(path)}"[:MAX_NAME_LENGTH]
