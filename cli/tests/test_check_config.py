from __future__ import annotations

from pathlib import Path

import pytest

from herald.cli.__main__ import check_config

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "herald.yaml")


def test_example_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_config(EXAMPLE, secrets=True) == 0
    assert "ok (4 services" in capsys.readouterr().out


def test_broken_config_fails_with_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("page:\n  title: x\nservices:\n  api:\n    nmae: API\n")
    assert check_config(str(bad), secrets=False) == 2
    err = capsys.readouterr().err
    assert f"{bad}:5: services.api.nmae" in err


def test_unresolvable_secret_fails_without_printing_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HERALD_TEST_TOKEN", raising=False)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("integrations:\n  am:\n    token: {env: HERALD_TEST_TOKEN}\n")
    assert check_config(str(cfg), secrets=True) == 2
    assert "HERALD_TEST_TOKEN is not set" in capsys.readouterr().err
