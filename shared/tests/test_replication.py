"""How the WAIT and ROLE replies after a step's writes decide whether a replica holds them
(herald.shared.replication; on real servers: tests/cluster/test_replication.py)."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from herald.shared.replication import SERVER, Replication, Waits

REPLICA = [b"127.0.0.1", b"6380", b"1200"]
"""A replica as a master's ROLE lists it."""


def check(replication: Replication, acked: Any, role: Any) -> bool:
    """Whether the one server's writes (two of them) are held, from its WAIT and ROLE."""
    waits = Waits(first=2, servers=[(SERVER, [0, 1])], keys=["a", "b"])
    client = Redis()  # a plain client: never used to send anything here
    return not replication.check(client, waits, [acked, role])


@pytest.mark.parametrize(
    ("acked", "role", "held"),
    [
        (1, [b"master", 1200, [REPLICA]], True),
        (0, [b"master", 1200, [REPLICA]], False),  # connected, behind for the whole wait
        (0, [b"master", 1200, []], True),  # no replica to be promoted
        (RedisConnectionError("closed"), [b"master", 1200, [REPLICA]], False),  # master gone
        (1, RedisConnectionError("closed"), False),
        (ResponseError("WAIT cannot be used with replica instances"), [b"slave"], False),
        (1, [b"slave", b"127.0.0.1", 6379, b"connected", 1200], False),  # demoted
    ],
)
def test_writes_are_held_when_a_replica_acknowledged_them_or_none_could_be_promoted(
    acked: Any, role: Any, held: bool
) -> None:
    assert check(Replication(1000), acked, role) is held


def test_a_master_without_a_replica_is_asked_for_none_until_one_is_back() -> None:
    replication = Replication(1000)
    assert replication.asked(SERVER) == 1
    assert check(replication, 0, [b"master", 1, []])
    assert replication.asked(SERVER) == 0  # WAIT 0: answered at once
    assert not check(replication, 0, [b"master", 2, [REPLICA]])  # back, not caught up yet
    assert replication.asked(SERVER) == 1
    assert check(replication, 1, [b"master", 3, [REPLICA]])
