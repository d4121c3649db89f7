"""Fixtures of the correlator tests: alert events built as ingest would build them."""

from __future__ import annotations

import pytest

from services.correlator.tests.alerts import AlertFactory, make_alert


@pytest.fixture
def alert() -> AlertFactory:
    return make_alert
