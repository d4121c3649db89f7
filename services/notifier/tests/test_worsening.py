"""Whether an incident got worse between two snapshots (worsening.py)."""

from __future__ import annotations

from herald.notifier.worsening import how_worse
from herald.shared.events import ComponentStatus, Impact
from services.notifier.tests.events import incident

BEFORE = incident().model_copy(
    update={
        "public": False,
        "impact": Impact.MINOR,
        "component_status": ComponentStatus.DEGRADED_PERFORMANCE,
    }
)


def test_public_now_a_higher_impact_or_a_worse_status_is_worse() -> None:
    assert how_worse(BEFORE, BEFORE.model_copy(update={"public": True})) == "now public"
    assert (
        how_worse(BEFORE, BEFORE.model_copy(update={"impact": Impact.CRITICAL}))
        == "impact minor -> critical"
    )
    assert (
        how_worse(
            BEFORE, BEFORE.model_copy(update={"component_status": ComponentStatus.MAJOR_OUTAGE})
        )
        == "status degraded_performance -> major_outage"
    )
    both = BEFORE.model_copy(update={"public": True, "impact": Impact.MAJOR})
    assert how_worse(BEFORE, both) == "now public, impact minor -> major"


def test_anything_else_is_not_worse() -> None:
    assert how_worse(BEFORE, BEFORE) is None
    assert how_worse(BEFORE, BEFORE.model_copy(update={"title": "Other words"})) is None
    better = BEFORE.model_copy(
        update={"impact": Impact.NONE, "component_status": ComponentStatus.OPERATIONAL}
    )
    assert how_worse(BEFORE, better) is None
    assert how_worse(BEFORE.model_copy(update={"public": True}), BEFORE) is None
