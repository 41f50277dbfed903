"""Tyk's endpoint paths: the ``path`` of every ``extended_paths`` entry, as a regex, and the type that checks one."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator


def endpoint_pattern(path: str) -> re.Pattern:
    """Tyk's endpoint path as a regex matched from the start of the path after the listen path."""
    if not path.startswith(("/", "^")):
        path = "/" + path
    return re.compile("^" + re.sub(r"\{[^/{}]*\}", "[^/]+", path.removeprefix("^")))


def _compiles(value: str) -> str:
    try:
        endpoint_pattern(value)
    except re.error as exc:
        raise ValueError(f"is not a valid regular expression: {exc}") from None
    return value


# A definition field holding an endpoint path: refused, naming the field, when it is no valid regex.
EndpointPath = Annotated[str, AfterValidator(_compiles)]
