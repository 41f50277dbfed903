"""Tyk's list paging (``?p=N`` from 1; 0 or lower: everything), shared by every list endpoint."""

from __future__ import annotations

import math


def page_window(p: int, size: int) -> tuple[int, int | None]:
    """(skip, limit) of page ``p``; limit None means no limit."""
    return (0, None) if p <= 0 else ((p - 1) * size, size)


def page_count(total: int, size: int) -> int:
    return max(1, math.ceil(total / size))


def page_number(text: str) -> int:
    """A web list's ``?p=`` from 1; anything else is page 1 (a hand-edited URL gets the first page, not an error)."""
    return int(text) if text.isdigit() and int(text) >= 1 else 1
