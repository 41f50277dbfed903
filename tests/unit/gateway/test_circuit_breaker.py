"""The circuit breaker's states, driven by a clock the test moves."""

from __future__ import annotations

import pytest

from tollhouse.gateway.circuit_breaker import CLOSED, HALF_OPEN, OPEN, BreakerRegistry, CircuitBreaker


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(clock, threshold=0.5, samples=4, return_after=10.0, half_open=True) -> CircuitBreaker:
    return CircuitBreaker("test", threshold, samples, return_after, half_open=half_open, clock=clock)


def feed(cb: CircuitBreaker, outcomes: str) -> None:
    """'F' a failed request, 'S' a successful one, each let in first."""
    for outcome in outcomes:
        ticket = cb.admit()
        assert ticket is not None, f"refused before {outcome!r} in {outcomes!r}"
        cb.record(ticket, outcome == "F")


@pytest.mark.parametrize(("outcomes", "state"), [
    ("FFF", CLOSED),       # fewer than `samples` outcomes: never trips
    ("SSFF", OPEN),        # 2 of 4 = the 0.5 threshold
    ("SSSF", CLOSED),      # 1 of 4
    ("FSSSF", CLOSED),     # the window rolled past the first failure
    ("SSSSFSF", OPEN),     # the last four: S F S F
])
def test_the_failure_ratio_over_the_last_samples_trips_it(outcomes, state):
    cb = breaker(Clock())
    feed(cb, outcomes)
    assert cb.state == state


def test_a_ratio_threshold_is_not_defeated_by_float_rounding():
    cb = breaker(Clock(), threshold=0.3, samples=10)
    feed(cb, "SSSSSSSFFF")
    assert cb.state == OPEN


def test_open_refuses_until_return_to_service_after_then_lets_one_trial_through():
    clock = Clock()
    cb = breaker(clock)
    feed(cb, "FFFF")
    assert cb.admit() is None
    clock.now += 9.9
    assert cb.admit() is None
    clock.now += 0.2
    trial = cb.admit()
    assert trial is not None and cb.state == HALF_OPEN
    assert cb.admit() is None  # one trial at a time
    cb.record(trial, failed=False)
    assert cb.state == CLOSED
    feed(cb, "SSS")  # a fresh window: the old failures are forgotten
    assert cb.state == CLOSED


def test_a_failed_trial_opens_it_again_for_a_whole_period():
    clock = Clock()
    cb = breaker(clock)
    feed(cb, "FFFF")
    clock.now += 10
    trial = cb.admit()
    cb.record(trial, failed=True)
    assert cb.state == OPEN
    clock.now += 5
    assert cb.admit() is None
    clock.now += 5
    assert cb.admit() is not None


def test_an_abandoned_trial_frees_the_slot_for_the_next_request():
    clock = Clock()
    cb = breaker(clock)
    feed(cb, "FFFF")
    clock.now += 10
    cb.abandon(cb.admit())
    assert cb.state == HALF_OPEN and cb.admit() is not None


def test_without_half_open_it_closes_outright_after_the_period():
    clock = Clock()
    cb = breaker(clock, half_open=False)
    feed(cb, "FFFF")
    clock.now += 10
    assert cb.admit() is not None and cb.admit() is not None
    assert cb.state == CLOSED


def test_outcomes_of_requests_let_in_before_a_state_change_do_not_count():
    clock = Clock()
    cb = breaker(clock)
    slow = cb.admit()  # let in while closed, answers after the breaker opened and went half-open
    feed(cb, "FFFF")
    clock.now += 10
    trial = cb.admit()
    cb.record(slow, failed=False)
    assert cb.state == HALF_OPEN  # the slow request's success is no verdict on the trial
    cb.record(trial, failed=True)
    assert cb.state == OPEN


def test_the_registry_keeps_a_breaker_while_an_api_holds_it():
    registry = BreakerRegistry()
    first = registry.get(("api", "Default", "GET", "/x"), lambda: breaker(Clock()))
    again = registry.get(("api", "Default", "GET", "/x"), lambda: breaker(Clock()))
    assert again is first
    other = registry.get(("api", "Default", "GET", "/y"), lambda: breaker(Clock()))
    assert other is not first
