"""What every round-by-round latency benchmark shares (bench.latency, bench.paging): its command
line (`-n/--rounds`, `--warmup`, `--quick`, `--log-level`, `--show-logs`), `figures(argv)` for
`make bench` and `main(argv)` for `python -m bench.<name>`, around its own `run(infra, options)`
on servers of its own (tests/infra.py's `real_infra()`).

A benchmark module builds one `Rounds` and exposes its `parse_args`, `figures` and `main`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from bench.report import Figure
from tests.infra import Infra, real_infra


@dataclass(frozen=True)
class Options:
    rounds: int
    warmup: int
    log_level: str
    show_logs: bool
    load: float = 0.0
    """Background alerts/s while measuring (0: none; only where the benchmark takes `--load`)."""
    load_per_webhook: int = 10


class Measured(Protocol):
    def figures(self) -> list[Figure]: ...


R = TypeVar("R", bound=Measured)


@dataclass(frozen=True)
class Rounds(Generic[R]):
    """One benchmark of measured rounds after unmeasured warm-up ones."""

    name: str
    """`bench.<name>`."""
    description: str
    what: str
    """What a round is, plural ("rounds", "pages"), for the help."""
    run: Callable[[Infra, Options], Awaitable[R]]
    report: Callable[[Options, R], str]
    """What `main` prints of a result."""
    warmup: int = 4
    """Unmeasured first rounds (2 with --quick)."""
    rounds: int = 50
    """Measured rounds (10 with --quick)."""
    load: bool = False
    """Whether it takes `--load R` / `--load-per-webhook N` (background alerts while measuring)."""

    def parse_args(self, argv: Sequence[str] | None) -> Options:
        parser = argparse.ArgumentParser(
            prog=f"python -m bench.{self.name}", description=self.description
        )
        parser.add_argument(
            "-n", "--rounds", type=int, help=f"measured {self.what} ({self.rounds}; --quick 10)"
        )
        parser.add_argument(
            "--warmup", type=int, help=f"unmeasured first {self.what} ({self.warmup}; --quick 2)"
        )
        parser.add_argument("--quick", action="store_true", help="few rounds: a smoke check")
        parser.add_argument(
            "--log-level",
            default="WARNING",
            type=str.upper,
            choices=("DEBUG", "INFO", "WARNING", "ERROR"),
            help="HERALD_LOG_LEVEL of the services (WARNING: no per-message log lines)",
        )
        parser.add_argument(
            "--show-logs", action="store_true", help="stream the services' logs to stderr"
        )
        if self.load:
            parser.add_argument(
                "--load",
                type=float,
                default=0.0,
                help="background alerts/s through the stack while measuring (0: none; goal: 500)",
            )
            parser.add_argument(
                "--load-per-webhook", type=int, default=10, help="alerts per load webhook (10)"
            )
        args = parser.parse_args(argv)
        rounds = args.rounds if args.rounds is not None else (10 if args.quick else self.rounds)
        warmup = args.warmup if args.warmup is not None else (2 if args.quick else self.warmup)
        if rounds < 1 or warmup < 0:
            parser.error("--rounds must be at least 1 and --warmup at least 0")
        load = getattr(args, "load", 0.0)
        per_webhook = getattr(args, "load_per_webhook", 10)
        if load < 0 or per_webhook < 1:
            parser.error("--load must be at least 0 and --load-per-webhook at least 1")
        return Options(rounds, warmup, args.log_level, args.show_logs, load, per_webhook)

    def figures(self, argv: Sequence[str] = ()) -> list[Figure]:
        """Run the benchmark (`argv` as on the command line) and return its figures."""
        options = self.parse_args(list(argv))
        with real_infra() as infra:
            return asyncio.run(self.run(infra, options)).figures()

    def main(self, argv: Sequence[str] | None = None) -> int:
        options = self.parse_args(argv)
        with real_infra() as infra:
            try:
                result = asyncio.run(self.run(infra, options))
            except Exception as exc:
                print(f"benchmark failed: {exc!r}", file=sys.stderr)
                return 1
        print(self.report(options, result))
        return 0
