"""The bed every benchmark runs on: the four services as processes (devstack's `Stack`, as
`make run` runs them) on servers of the benchmark's own (`tests.infra.real_infra()`), their logs
kept aside and shown when a run fails, and a description of the machine."""

from __future__ import annotations

import io
import os
import platform
import sys
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from devstack.processes import Stack
from tests.infra import Infra

LOG_TAIL_LINES = 60
"""Service log lines shown when a run fails."""


class LogTail(io.StringIO):
    """Keeps only the last lines written (a storm at INFO writes a line per alert)."""

    def __init__(self, lines: int = LOG_TAIL_LINES) -> None:
        super().__init__()
        self.lines: deque[str] = deque(maxlen=lines)

    def write(self, text: str) -> int:
        self.lines.extend(text.splitlines(keepends=True))
        return len(text)

    def tail(self) -> str:
        return "".join(self.lines)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """`nproc`, the CPU model and the Python version: what docs/performance.md records."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpus} CPUs ({cpu_model()}), Python {platform.python_version()}"


def stack_env(infra: Infra, config: str | Path, token: str, log_level: str) -> dict[str, str]:
    """The services' environment: these servers, `config`, free ports, the inbound `token`."""
    env = infra.stack_env(config, HERALD_DEMO_TOKEN=token, HERALD_LOG_LEVEL=log_level)
    env.pop("HERALD_DEMO_PAGER_URL", None)  # a pager channel of the example stays disabled
    return env


@asynccontextmanager
async def running_stack(
    env: dict[str, str],
    *,
    show_logs: bool = False,
    extra_replicas: Mapping[str, Sequence[int]] | None = None,
) -> AsyncIterator[Stack]:
    """The stack, started and ready; stopped on the way out. When the body (or the start) fails,
    the last service log lines go to stderr before the error propagates."""
    logs = LogTail()
    stack = Stack(env, out=sys.stderr if show_logs else logs, extra_replicas=extra_replicas or {})
    try:
        await stack.start()
        await stack.wait_ready()
        yield stack
    except BaseException:
        if not show_logs:
            print("last service log lines:", file=sys.stderr)
            print(logs.tail(), file=sys.stderr)
        raise
    finally:
        await stack.stop()
