from herald.correlator.consumer import redelivery_delay


def test_redelivery_delay_backs_off_and_is_bounded() -> None:
    delays = [redelivery_delay(n) for n in range(1, 12)]
    assert delays[0] > 0
    assert delays == sorted(delays)
    assert max(delays) == 15.0
    assert redelivery_delay(0) == delays[0]
