import itertools
import math
import random

import pytest

from tollhouse.core import latency_histogram as lh


@pytest.mark.parametrize(("latency_ms", "bucket"), [
    (0, "100"), (-3, "100"), (0.1, "100"), (0.1001, "125"), (1, "1000"), (1.2, "1250"), (12.5, "12500"),
    (80_000, "80000000"), (80_000.01, "inf"), (10**9, "inf"),
])
def test_a_latency_falls_in_the_bucket_named_by_its_upper_bound(latency_ms, bucket):
    assert lh.bucket_name(latency_ms) == bucket


def test_the_buckets_are_ten_per_decade_and_each_at_most_about_28_percent_wider():
    bounds = lh.UPPER_BOUNDS_US
    assert bounds[0] == 100 and bounds[10] == 1000 and bounds[-1] == 80_000_000 and len(bounds) == 60
    assert all(1.2 < upper / lower < 1.3 for lower, upper in itertools.pairwise(bounds))


def test_bucket_ranges_join_up_and_the_open_bucket_ends_at_the_largest_latency():
    assert lh.bucket_range_ms("100", 5) == (0, 0.1)
    assert lh.bucket_range_ms("1250", 5) == (1.0, 1.25)
    assert lh.bucket_range_ms("inf", 95_000) == (80_000, 95_000)


def test_no_data_has_no_percentile():
    assert lh.percentile({}, 0.5, 0) is None
    assert lh.percentile({"1000": 0}, 0.5, 0) is None


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("fraction", [0.5, 0.95, 0.99])
def test_a_percentile_is_within_its_bucket_of_the_true_value(seed, fraction):
    generator = random.Random(seed)
    latencies = sorted(generator.lognormvariate(3, 1.2) for _ in range(2000))
    # Summed from two halves, as the dashboard sums documents.
    histogram = lh.merge([_histogram(latencies[::2]), _histogram(latencies[1::2])])
    true_value = latencies[math.ceil(fraction * len(latencies)) - 1]
    estimate = lh.percentile(histogram, fraction, latencies[-1])
    lower, upper = lh.bucket_range_ms(lh.bucket_name(true_value), latencies[-1])
    assert lower <= estimate <= upper
    assert abs(estimate - true_value) <= upper - lower


def test_no_estimate_exceeds_the_largest_latency():
    assert lh.percentile({"100000": 10}, 0.99, 90.5) == 90.5
    assert lh.percentile({"inf": 3}, 0.5, 120_000) <= 120_000


def _histogram(latencies):
    histogram = {}
    for latency in latencies:
        name = lh.bucket_name(latency)
        histogram[name] = histogram.get(name, 0) + 1
    return histogram
