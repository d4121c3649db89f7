"""The command-line tools the deploy tests run. A missing tool fails the test, saying what to
install: these checks are part of `make test` and must never be skipped silently."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

INSTALL = {
    "promtool": "Debian/Ubuntu: `apt-get install prometheus` (ships promtool)",
    "amtool": "Debian/Ubuntu: `apt-get install prometheus-alertmanager` (ships amtool)",
    "nats-server": "Debian/Ubuntu: `apt-get install nats-server`",
    "redis-server": "Debian/Ubuntu: `apt-get install redis-server`",
    "kubectl": "kubectl (it ships kustomize: `kubectl kustomize`), or the standalone `kustomize`",
}


def require(name: str) -> str:
    """Path of `name`, or fail naming what to install."""
    found = shutil.which(name) or next(
        (
            str(p)
            for d in ("/usr/sbin", "/usr/local/sbin", "/usr/local/bin")
            if (p := Path(d) / name).exists()
        ),
        None,
    )
    if found is None:
        pytest.fail(f"`{name}` is not installed. Install it: {INSTALL.get(name, name)}.")
    return found


def run(
    argv: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run a tool; the test fails with its output when it exits non-zero."""
    proc = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        pytest.fail(f"`{' '.join(argv)}` exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def kustomize_argv(path: Path) -> list[str]:
    """`kubectl kustomize <path>` when kubectl exists, else `kustomize build <path>`."""
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize", str(path)]
    if shutil.which("kustomize"):
        return ["kustomize", "build", str(path)]
    require("kubectl")  # fails with the install hint
    raise AssertionError("unreachable")
