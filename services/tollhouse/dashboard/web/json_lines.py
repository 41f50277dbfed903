"""Where things are in a JSON text the user typed, so an error is shown beside the line it is about.

``key_lines`` maps each key path (``("proxy", "target_url")``, list items by index) to the line it starts on;
``line_of`` finds the line of a validation error's dotted path (a missing field: its parent's line); ``excerpt``
cuts the lines around the marked ones, each with its errors attached, for the page to list.
"""

from __future__ import annotations

import bisect
import re
from json.decoder import scanstring

WHITESPACE = re.compile(r"[ \t\n\r]*")
SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null|NaN|-?Infinity")
CONTEXT_LINES = 2


class _Scanner:
    def __init__(self, text: str):
        self.text = text
        self.newlines = [index for index, char in enumerate(text) if char == "\n"]
        self.lines: dict[tuple[str, ...], int] = {}

    def line(self, position: int) -> int:
        return bisect.bisect_left(self.newlines, position) + 1

    def skip(self, position: int) -> int:
        return WHITESPACE.match(self.text, position).end()

    def value(self, position: int, path: tuple[str, ...]) -> int:
        """Record the lines of what the value at ``position`` holds; return where it ends."""
        text, position = self.text, self.skip(position)
        opener = text[position]
        if opener in "{[":
            closer = "}" if opener == "{" else "]"
            position = self.skip(position + 1)
            index = 0
            while text[position] != closer:
                if opener == "{":
                    key, end = scanstring(text, position + 1)
                    child = (*path, key)
                    self.lines[child] = self.line(position)
                    position = self.skip(end) + 1  # past the ':'
                else:
                    child = (*path, str(index))
                    self.lines[child] = self.line(self.skip(position))
                position = self.skip(self.value(position, child))
                if text[position] == ",":
                    position = self.skip(position + 1)
                index += 1
            return position + 1
        if opener == '"':
            return scanstring(text, position + 1)[1]
        return SCALAR.match(text, position).end()


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """The line (from 1) of every key path in ``text``, which must be valid JSON; {} if it cannot be followed."""
    scanner = _Scanner(text)
    try:
        scanner.value(0, ())
    except (IndexError, AttributeError, ValueError, RecursionError):
        return {}
    return scanner.lines


def line_of(lines: dict[tuple[str, ...], int], dotted: str) -> int:
    """The line of ``dotted`` (``version_data.versions.v1.0.name``: keys may hold dots, so the longest key that
    exists wins at each step), or of its deepest existing parent; line 1, the opening brace, if none."""
    parts = dotted.split(".")
    prefix: tuple[str, ...] = ()
    line, start = 1, 0
    while start < len(parts):
        for end in range(len(parts), start, -1):
            candidate = (*prefix, ".".join(parts[start:end]))
            if candidate in lines:
                prefix, line, start = candidate, lines[candidate], end
                break
        else:
            break
    return line


def excerpt(text: str, marks: dict[int, list], context: int = CONTEXT_LINES) -> list[dict]:
    """The lines within ``context`` of each marked line, in order, as ``{number, text, marks}`` rows; a row
    ``{gap: True}`` stands for lines left out."""
    lines = text.split("\n")
    near = {number for line in marks for number in range(line - context, line + context + 1)
            if 1 <= number <= len(lines)}
    shown = sorted(near | {number + 1 for number in near if number + 2 in near})  # no gap of a single line
    rows: list[dict] = []
    for number in shown:
        if rows and rows[-1]["number"] != number - 1:
            rows.append({"gap": True, "number": number - 1})
        rows.append({"gap": False, "number": number, "text": lines[number - 1], "marks": marks.get(number, [])})
    return rows
