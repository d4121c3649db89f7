"""`make bench`: every benchmark module in bench/, one table.

A benchmark module is one that defines `figures(argv) -> list[Figure]` (it starts its own
servers and stack, runs with `argv` as its command line, and returns its figures, each with
the floor measured in the same run and its goal). They are found, not listed: a new module
with `figures` is run by `make bench` too.

    uv run python -m bench                 # every benchmark, full size
    uv run python -m bench --quick         # each with --quick (small sizes)
    uv run python -m bench --only storm    # some of them
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from types import ModuleType

import bench
from bench.report import Figure, figures_table
from bench.testbed import machine

FiguresOf = Callable[[Sequence[str]], list[Figure]]


def benchmarks() -> dict[str, FiguresOf]:
    """Every module of the bench package that defines `figures`, by name, in name order."""
    found: dict[str, FiguresOf] = {}
    for info in sorted(pkgutil.iter_modules(bench.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module: ModuleType = importlib.import_module(f"bench.{info.name}")
        run = getattr(module, "figures", None)
        if callable(run):
            found[info.name] = run
    return found


def main(argv: Sequence[str] | None = None) -> int:
    available = benchmarks()
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Run every benchmark and print one table."
    )
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    parser.add_argument(
        "--only", action="append", choices=sorted(available), help="run this one (repeatable)"
    )
    args = parser.parse_args(argv)
    chosen = args.only or list(available)
    module_argv = ["--quick"] if args.quick else []
    rows: list[Figure] = []
    failed = []
    started = time.perf_counter()
    for name in chosen:
        print(f"bench: {name} {' '.join(module_argv)}".rstrip(), file=sys.stderr, flush=True)
        try:
            rows.extend(available[name](module_argv))
        except Exception:
            traceback.print_exc()
            failed.append(name)
            rows.append(Figure(f"{name}: FAILED", None, "", "higher", note="see the error above"))
    print()
    print(
        f"Herald benchmarks ({', '.join(chosen)}{', quick' if args.quick else ''}): {machine()}; "
        f"{time.perf_counter() - started:.0f} s"
    )
    print(figures_table(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
