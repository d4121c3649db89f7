from herald.correlator.severity import status_for
from herald.shared.config import Severity
from herald.shared.events import ComponentStatus as CS


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
