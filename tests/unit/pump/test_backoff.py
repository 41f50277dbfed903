from tollhouse.pump.backoff import Backoff


def test_doubles_up_to_the_cap_and_resets():
    backoff = Backoff(max_seconds=3)
    assert [backoff.next_delay() for _ in range(5)] == [0.5, 1, 2, 3, 3]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_a_cap_below_the_first_delay_wins():
    assert Backoff(max_seconds=0.1).next_delay() == 0.1
