"""A strict reader of the Prometheus text format (0.0.4) for tests: what a scraper would accept.

It refuses what Prometheus refuses (a sample before its family's TYPE, a family declared twice, a bad
line, histogram buckets that are not cumulative or whose +Inf bucket differs from _count), so a test
that parses a scrape also checks the format.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "counter": ("",), "gauge": ("",)}


@dataclass
class Family:
    name: str
    kind: str
    help: str
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)


def _labels(text: str) -> dict[str, str]:
    labels, position = {}, 0
    while position < len(text):
        match = _LABEL.match(text, position)
        if match is None:
            raise ValueError(f"bad labels {text!r}")
        name, value = match.group(1), re.sub(r"\\.", lambda m: _UNESCAPE[m.group(0)], match.group(2))
        if name in labels:
            raise ValueError(f"label {name} twice in {text!r}")
        labels[name] = value
        position = match.end()
    return labels


def _value(text: str) -> float:
    return {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}.get(text) or float(text)


def parse(text: str) -> dict[str, Family]:
    assert text.endswith("\n"), "the exposition ends with a newline"
    families: dict[str, Family] = {}
    helps: dict[str, str] = {}
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert name not in helps, f"HELP of {name} twice"
            helps[name] = help_text
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert name not in families, f"TYPE of {name} twice"
            assert kind in _SUFFIXES, kind
            families[name] = Family(name, kind, helps.get(name, ""))
        else:
            match = _SAMPLE.match(line)
            assert match is not None, f"bad sample line {line!r}"
            name, labels, value = match.group(1), _labels(match.group(2) or ""), _value(match.group(3))
            owner = next((family for base, family in families.items()
                          for suffix in _SUFFIXES[family.kind] if name == base + suffix), None)
            assert owner is not None, f"{name} sampled before its TYPE"
            owner.samples.append((name, labels, value))
    for family in families.values():
        if family.kind == "histogram":
            _check_histogram(family)
    return families


def _check_histogram(family: Family) -> None:
    series: dict[tuple, list[tuple[float, float]]] = {}
    counts: dict[tuple, float] = {}
    for name, labels, value in family.samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        if name.endswith("_bucket"):
            series.setdefault(key, []).append((_value(labels["le"]), value))
        elif name.endswith("_count"):
            counts[key] = value
    for key, buckets in series.items():
        bounds = [bound for bound, _ in buckets]
        assert bounds == sorted(bounds) and bounds[-1] == math.inf, f"{family.name}{key}: le not ascending to +Inf"
        values = [value for _, value in buckets]
        assert values == sorted(values), f"{family.name}{key}: buckets not cumulative"
        assert values[-1] == counts[key], f"{family.name}{key}: +Inf bucket differs from _count"


def values(families: dict[str, Family], name: str, **labels: str) -> list[float]:
    """The values of the samples named ``name`` whose labels include ``labels``."""
    return [value for family in families.values() for sample, found, value in family.samples
            if sample == name and labels.items() <= found.items()]


def value(families: dict[str, Family], name: str, **labels: str) -> float:
    found = values(families, name, **labels)
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]
