from herald.shared.events import ComponentStatus as CS
from herald.shared.events import Impact
from herald.shared.statuses import impact_for, indicator_of, worst, worst_impact, worst_indicator


def test_worst_of() -> None:
    assert worst([]) is CS.OPERATIONAL
    assert worst([CS.DEGRADED_PERFORMANCE, CS.MAJOR_OUTAGE, CS.PARTIAL_OUTAGE]) is CS.MAJOR_OUTAGE
    assert worst([CS.OPERATIONAL, CS.DEGRADED_PERFORMANCE]) is CS.DEGRADED_PERFORMANCE
    assert worst([CS.PARTIAL_OUTAGE, CS.DEGRADED_PERFORMANCE]) is CS.PARTIAL_OUTAGE


def test_impact_from_status() -> None:
    assert impact_for(CS.MAJOR_OUTAGE) is Impact.CRITICAL
    assert impact_for(CS.PARTIAL_OUTAGE) is Impact.MAJOR
    assert impact_for(CS.DEGRADED_PERFORMANCE) is Impact.MINOR
    assert impact_for(CS.OPERATIONAL) is Impact.NONE
    assert worst_impact(Impact.MINOR, Impact.CRITICAL, Impact.NONE) is Impact.CRITICAL


def test_indicators_put_maintenance_between_none_and_minor() -> None:
    assert indicator_of(CS.UNDER_MAINTENANCE) == "maintenance"
    assert worst_indicator("none", "maintenance") == "maintenance"
    assert worst_indicator("maintenance", "minor") == "minor"
    assert worst_indicator(*(indicator_of(s) for s in CS)) == "critical"
    assert worst_indicator() == "none"
