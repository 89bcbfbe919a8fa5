"""The per-connection rate limit: bursts pass, overshoots are refused, floods disconnect."""

from __future__ import annotations

from services.signaling.rate_limit import MessageRateLimit, Verdict


def _limit(now: float = 0.0) -> MessageRateLimit:
    return MessageRateLimit(per_second=50, burst=100, patience=50, now=now)


def test_a_burst_up_to_the_bucket_passes() -> None:
    limit = _limit()
    assert [limit.check(0.0) for _ in range(100)] == [Verdict.ACCEPT] * 100
    assert limit.check(0.0) is Verdict.REFUSE


def test_the_bucket_refills_at_the_rate() -> None:
    limit = _limit()
    for _ in range(100):
        limit.check(0.0)
    assert limit.check(0.0) is Verdict.REFUSE
    # 0.1 s at 50/s is 5 more messages.
    assert [limit.check(0.1) for _ in range(6)] == [Verdict.ACCEPT] * 5 + [Verdict.REFUSE]


def test_a_sustained_flood_runs_out_of_patience() -> None:
    limit = _limit()
    verdicts = [limit.check(0.0) for _ in range(100 + 50 + 1)]
    assert verdicts[:100] == [Verdict.ACCEPT] * 100
    assert verdicts[100:150] == [Verdict.REFUSE] * 50
    assert verdicts[150] is Verdict.DISCONNECT


def test_patience_comes_back_with_time() -> None:
    limit = _limit()
    for _ in range(100 + 50):
        limit.check(0.0)
    # Patience comes back at one per second: ten seconds later, ten more refusals are
    # forgiven; after a minute all of it.
    for _ in range(100):
        assert limit.check(10.0) is Verdict.ACCEPT
    assert [limit.check(10.0) for _ in range(11)] == [Verdict.REFUSE] * 10 + [Verdict.DISCONNECT]
    for _ in range(100):
        assert limit.check(70.0) is Verdict.ACCEPT
    assert [limit.check(70.0) for _ in range(51)] == [Verdict.REFUSE] * 50 + [Verdict.DISCONNECT]


def test_a_clock_that_goes_backwards_adds_nothing() -> None:
    limit = _limit(now=5.0)
    for _ in range(100):
        limit.check(5.0)
    assert limit.check(4.0) is Verdict.REFUSE
