from __future__ import annotations

import pytest

from herald.ingest.options import MIB, IngestOptions
from herald.shared.settings import SettingsError


def test_defaults() -> None:
    opts = IngestOptions.from_env({})
    assert opts.max_body == MIB
    assert opts.publish_timeout == 5.0


def test_values_from_the_environment() -> None:
    opts = IngestOptions.from_env(
        {"HERALD_INGEST_MAX_BODY": "2048", "HERALD_INGEST_PUBLISH_TIMEOUT": "0.5"}
    )
    assert (opts.max_body, opts.publish_timeout) == (2048, 0.5)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HERALD_INGEST_MAX_BODY", "1.5"),
        ("HERALD_INGEST_MAX_BODY", "0"),
        ("HERALD_INGEST_MAX_BODY", "lots"),
        ("HERALD_INGEST_PUBLISH_TIMEOUT", "-1"),
        ("HERALD_INGEST_PUBLISH_TIMEOUT", "nan"),
        ("HERALD_INGEST_PUBLISH_TIMEOUT", "inf"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        IngestOptions.from_env({name: value})
