from herald.correlator.severity import impact_for, status_for, worst, worst_impact
from herald.shared.config import Severity
from herald.shared.events import ComponentStatus as CS
from herald.shared.events import Impact


def test_status_from_map_and_default() -> None:
    cfg = Severity()
    assert status_for("critical", cfg) is CS.MAJOR_OUTAGE
    assert status_for("error", cfg) is CS.PARTIAL_OUTAGE
    assert status_for("warning", cfg) is CS.DEGRADED_PERFORMANCE
    assert status_for("info", cfg) is CS.DEGRADED_PERFORMANCE
    assert status_for(None, cfg) is CS.DEGRADED_PERFORMANCE
    custom = Severity(map={"page": CS.MAJOR_OUTAGE}, default=CS.OPERATIONAL)
    assert status_for("page", custom) is CS.MAJOR_OUTAGE
    assert status_for("critical", custom) is CS.OPERATIONAL


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
