"""Finding the line of an error's dotted path in the JSON text the user typed."""

from __future__ import annotations

import pytest

from tollhouse.dashboard.web.json_lines import excerpt, key_lines, line_of

TEXT = """{
  "name": "Orders",
  "proxy": {
    "listen_path": "/orders/",
    "target_url": "ftp://nope"
  },
  "version_data": {"versions": {"v1.0": {"extended_paths": {"rate_limit": [
      {"path": "/a", "rate": 1, "per": 1},
      {"path": "/b\\"}", "rate": -1, "per": 1}
  ]}}}},
  "numbers": [-1.5e3, true, null, {}, []]
}"""


@pytest.mark.parametrize(("path", "line"), [
    ("name", 2),
    ("proxy.target_url", 5),
    ("proxy.strip_listen_path", 3),  # missing: its parent's line
    ("version_data.versions.v1.0.extended_paths.rate_limit.1.rate", 9),  # a key with a dot, list items by index
    ("version_data.versions.v1.0.extended_paths.rate_limit.0", 8),
    ("numbers.3", 11),
    ("api_id", 1),  # missing at the top: the opening brace
    ("(definition)", 1),
])
def test_the_line_of_a_dotted_path(path, line):
    assert line_of(key_lines(TEXT), path) == line


def test_text_that_cannot_be_followed_gives_no_lines():
    assert key_lines('{"a": ') == {}
    assert line_of({}, "a.b") == 1


def test_the_excerpt_keeps_context_around_marks_and_shows_gaps():
    rows = excerpt("\n".join(f"line {n}" for n in range(1, 21)), {3: ["x"], 8: ["y"], 18: ["z"]})
    numbers = [row["number"] for row in rows if not row["gap"]]
    assert numbers == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16, 17, 18, 19, 20]  # 6 filled: no gap of one line
    assert [row["gap"] for row in rows].count(True) == 1
    assert next(row for row in rows if row.get("number") == 8 and not row["gap"])["marks"] == ["y"]
