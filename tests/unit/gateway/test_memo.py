"""The bounded memo behind the gateway's per-process memos (gateway/memo.py)."""

from __future__ import annotations

from tollhouse.gateway.memo import Memo


def test_forgets_the_oldest_entry_beyond_its_bound():
    memo: Memo[str, int] = Memo(3)
    for index, key in enumerate("abcd"):
        assert memo.remember(key, index) == index
    assert list(memo) == ["b", "c", "d"]


def test_replacing_a_known_key_forgets_nothing():
    memo: Memo[str, int] = Memo(2)
    memo.remember("a", 1)
    memo.remember("b", 2)
    memo.remember("a", 3)
    assert memo == {"a": 3, "b": 2}
