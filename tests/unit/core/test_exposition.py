"""The hand-written Prometheus text format: escaping, numbers, cumulative histograms."""

from __future__ import annotations

import math

import pytest

from tests.prometheus_text import parse, value
from tollhouse.core.exposition import Exposition, escape_label_value, format_value


@pytest.mark.parametrize(("raw", "escaped"), [
    ("plain", "plain"),
    ('say "hi"', 'say \\"hi\\"'),
    ("back\\slash", "back\\\\slash"),
    ("two\nlines", "two\\nlines"),
])
def test_label_values_are_escaped(raw, escaped):
    assert escape_label_value(raw) == escaped


@pytest.mark.parametrize(("number", "text"), [
    (0, "0"), (12, "12"), (0.25, "0.25"), (1e-05, "1e-05"), (math.inf, "+Inf"), (-math.inf, "-Inf"), (math.nan, "NaN"),
])
def test_numbers(number, text):
    assert format_value(number) == text


def test_a_family_with_awkward_label_values_parses_back_to_the_same_values():
    out = Exposition()
    out.family("x_total", "counter", "Help with a \\ backslash\nand a newline.")
    awkward = 'a"b\\c\nd}{,='
    out.sample("x_total", (("api_id", awkward), ("status_class", "2xx")), 3)
    text = out.text()
    assert "# HELP x_total Help with a \\\\ backslash\\nand a newline.\n" in text
    assert value(parse(text), "x_total", api_id=awkward) == 3


def test_a_histogram_is_cumulative_with_inf_sum_and_count():
    out = Exposition()
    out.family("lat_seconds", "histogram", "Latency.")
    out.histogram("lat_seconds", (("api_id", "a"),), (0.1, 1.0), [2, 0, 5], 7.5)
    lines = out.text().splitlines()[2:]
    assert lines == [
        'lat_seconds_bucket{api_id="a",le="0.1"} 2',
        'lat_seconds_bucket{api_id="a",le="1.0"} 2',
        'lat_seconds_bucket{api_id="a",le="+Inf"} 7',
        'lat_seconds_sum{api_id="a"} 7.5',
        'lat_seconds_count{api_id="a"} 7',
    ]
    parse(out.text())  # the strict reader accepts it


def test_the_counts_must_match_the_bounds():
    with pytest.raises(ValueError):
        Exposition().histogram("h", (), (0.1, 1.0), [1, 2], 0.0)
