"""Real Prometheus and Alertmanager processes for the e2e test, and amtool.

The binaries come from Debian's `prometheus` and `prometheus-alertmanager` packages (`make test`
installs them in its system-deps step). A missing one is a failure saying what to install.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from devstack.infrastructure import find_binary
from tests.infra import ServerProcess, free_port

PACKAGES = {
    "prometheus": "prometheus",
    "promtool": "prometheus",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "alertmanager": "prometheus-alertmanager",
    "amtool": "prometheus-alertmanager",
}


class MissingBinary(RuntimeError):
    pass


def binary(*names: str) -> str:
    """The first of `names` found; MissingBinary saying which Debian package to install."""
    for name in names:
        found = find_binary(name)
        if found is not None:
            return found
    package = PACKAGES[names[0]]
    raise MissingBinary(
        f"{' / '.join(names)} not found: the e2e test runs a real one. Install it with "
        f"`sudo apt-get install {package}` (or `make test`, whose system-deps step does)."
    )


def run_tool(argv: list[str]) -> str:
    """Run promtool/amtool; AssertionError with its output when it fails."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({done.returncode}):\n{output}")
    return output


def log_tail(workdir: Path, lines: int = 40) -> str:
    log = workdir / "server.log"
    if not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Monitor:
    """A running Prometheus or Alertmanager."""

    name: str
    process: ServerProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.process.port}"

    async def start(self) -> None:
        try:
            await asyncio.to_thread(self.process.start)
        except RuntimeError as exc:
            raise AssertionError(
                f"{self.name} did not start: {exc}\n{log_tail(self.process.workdir)}"
            ) from None
        await self.until(
            lambda r: r.status_code == 200, "/-/ready", f"{self.name} ready", timeout=30
        )

    async def until(
        self,
        ok: Callable[[httpx.Response], bool],
        path: str,
        what: str,
        timeout: float = 60.0,
    ) -> httpx.Response:
        """Poll GET `path` until `ok(response)` (external process state: no event to await)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                proc = self.process.proc
                if proc is not None and proc.poll() is not None:
                    raise AssertionError(
                        f"{self.name} exited ({proc.returncode}) waiting for {what}:\n"
                        f"{log_tail(self.process.workdir)}"
                    )
                try:
                    response = await http.get(self.url + path)
                    if ok(response):
                        return response
                    last = response.text[:500]
                except httpx.HTTPError as exc:
                    last = exc
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"{self.name}: no {what} after {timeout:.0f}s (last: {last})\n"
                        f"{log_tail(self.process.workdir)}"
                    )
                await asyncio.sleep(0.2)

    def log_mark(self) -> int:
        """A position in the server's log: `log_until(..., since=mark)` reads from here on."""
        log = self.process.workdir / "server.log"
        return log.stat().st_size if log.exists() else 0

    async def log_until(
        self, ok: Callable[[str], bool], what: str, since: int, timeout: float = 60.0
    ) -> str:
        """The first whole log line written after `since` for which `ok(line)`: for what the
        server does without telling anyone over HTTP (Alertmanager's debug `msg=flushing`
        lines name every alert of a group it flushes, muted ones included)."""
        log = self.process.workdir / "server.log"
        deadline = time.monotonic() + timeout
        while True:
            with log.open("rb") as f:
                f.seek(since)
                text = f.read().decode(errors="replace")
            for line in text.splitlines(keepends=True):
                if line.endswith("\n") and ok(line):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name}: no log line with {what} after {timeout:.0f}s\n"
                    f"{log_tail(self.process.workdir)}"
                )
            await asyncio.sleep(0.2)

    def stop(self) -> None:
        self.process.stop()


def alertmanager(config: Path, workdir: Path) -> Monitor:
    exe = binary("prometheus-alertmanager", "alertmanager")
    run_tool([binary("amtool"), "check-config", str(config)])
    port = free_port()
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    argv = [
        exe,
        f"--config.file={config}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # no gossip: a single instance
        "--log.level=debug",
    ]
    return Monitor("alertmanager", ServerProcess(argv=argv, port=port, workdir=workdir))


def prometheus_config(target: str, alertmanager_url: str, rules: Path) -> dict[str, Any]:
    """Scrape the fake kube-state-metrics every second, evaluate every second."""
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "alerting": {
            "alertmanagers": [
                {
                    "api_version": "v2",
                    "static_configs": [{"targets": [alertmanager_url.removeprefix("http://")]}],
                }
            ]
        },
        "scrape_configs": [
            {
                "job_name": "kube-state-metrics",
                "honor_labels": True,
                "static_configs": [{"targets": [target]}],
            }
        ],
    }


def prometheus(config: dict[str, Any], workdir: Path) -> Monitor:
    exe = binary("prometheus")
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    run_tool([binary("promtool"), "check", "config", str(path)])
    port = free_port()
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    argv = [
        exe,
        f"--config.file={path}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=info",
    ]
    return Monitor("prometheus", ServerProcess(argv=argv, port=port, workdir=workdir))


async def amtool(alertmanager_url: str, *args: str) -> str:
    """Run `amtool <args> --alertmanager.url=...`; AssertionError with its output on failure."""
    argv = [binary("amtool"), *args, f"--alertmanager.url={alertmanager_url}"]
    return await asyncio.to_thread(run_tool, argv)
