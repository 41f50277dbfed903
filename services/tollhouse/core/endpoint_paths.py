"""Tyk's endpoint paths (the ``path`` of every ``extended_paths`` entry) as regexes, and the field types that check
them and other regexes of definitions and sessions."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator


def endpoint_pattern(path: str) -> re.Pattern:
    """Tyk's endpoint path as a regex matched from the start of the path after the listen path."""
    if not path.startswith(("/", "^")):
        path = "/" + path
    return re.compile("^" + re.sub(r"\{[^/{}]*\}", "[^/]+", path.removeprefix("^")))


def _checked(compile_it):
    def check(value: str) -> str:
        try:
            compile_it(value)
        except re.error as exc:
            raise ValueError(f"is not a valid regular expression: {exc}") from None
        return value

    return check


# Fields refused, naming the field, when they are no valid regex: an endpoint path (Tyk's {id} segments
# allowed), or a plain regular expression.
EndpointPath = Annotated[str, AfterValidator(_checked(endpoint_pattern))]
Regex = Annotated[str, AfterValidator(_checked(re.compile))]
