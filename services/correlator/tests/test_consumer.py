from herald.correlator.consumer import REDELIVERY


def test_redelivery_delay_backs_off_and_is_bounded() -> None:
    delays = [REDELIVERY.delay(n) for n in range(1, 12)]
    assert delays == sorted(delays)
    assert delays[0] == 0.25
    assert delays[-1] == 15.0
    assert REDELIVERY.delay(0) == delays[0]
