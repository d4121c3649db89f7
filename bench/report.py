"""Latency samples, figures, and the tables the benchmarks print. Pure: no I/O, no clock."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (`pct` in 0..100) of a non-empty sample."""
    if not values:
        raise ValueError("percentile of an empty sample")
    ordered = sorted(values)
    rank = max(math.ceil(pct / 100 * len(ordered)), 1)
    return ordered[rank - 1]


@dataclass(frozen=True)
class Sample:
    """Round-trip times of one measured path, in seconds."""

    name: str
    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p95(self) -> float:
        return percentile(self.seconds, 95)

    @property
    def p99(self) -> float:
        return percentile(self.seconds, 99)


def ratio(sample: Sample, baseline: Sample) -> float:
    """How many times slower `sample` is than `baseline`, median against median."""
    return sample.median / baseline.median if baseline.median > 0 else math.inf


def table(samples: Sequence[Sample], subject: Sample) -> str:
    """A small fixed-width table: n, median, p95 (milliseconds) and `subject`'s ratio to each."""
    header = f"{'path':<44} {'n':>4} {'median ms':>10} {'p95 ms':>9} {'ratio':>8}"
    lines = [header, "-" * len(header)]
    for s in samples:
        cell = "" if s is subject else f"{ratio(subject, s):7.1f}x"
        lines.append(
            f"{s.name:<44} {len(s.seconds):>4} {s.median * 1e3:>10.2f} {s.p95 * 1e3:>9.2f} {cell:>8}"
        )
    lines.append(f"ratio = median of {subject.name!r} / median of that row")
    return "\n".join(lines)


Better = Literal["higher", "lower"]


@dataclass(frozen=True)
class Goal:
    """A target for a figure: at least (`better="higher"`) or at most `target`."""

    target: float
    better: Better

    def met(self, value: float) -> bool:
        return value >= self.target if self.better == "higher" else value <= self.target

    def text(self, unit: str) -> str:
        return f"{'>=' if self.better == 'higher' else '<='} {_number(self.target)} {unit}".strip()


@dataclass(frozen=True)
class Figure:
    """One measured figure of a benchmark, with the floor measured in the same run.

    `value` None: not measured (`note` says why). `better` says which way is good, for the
    value and the floor alike: for a rate (alerts/s) higher, for a time lower. The floor is what
    the bare operations underneath achieve on the same servers: nothing can beat it."""

    name: str
    value: float | None
    unit: str
    better: Better
    floor: float | None = None
    floor_name: str = ""
    goal: Goal | None = None
    note: str = ""

    @property
    def cost(self) -> float | None:
        """How many times the floor's cost this figure is (1.0: as fast as the bare operations;
        3.0: three times slower), whichever way the unit goes. None without both numbers."""
        if self.value is None or self.floor is None:
            return None
        if self.better == "higher":
            return self.floor / self.value if self.value > 0 else math.inf
        return self.value / self.floor if self.floor > 0 else None

    @property
    def met(self) -> bool | None:
        if self.goal is None or self.value is None:
            return None
        return self.goal.met(self.value)


def _number(value: float) -> str:
    """A figure to about three significant digits, without an exponent."""
    if math.isinf(value):
        return "inf"
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def figures_table(figures: Sequence[Figure]) -> str:
    """One fixed-width table: figure, value, floor, x floor (cost relative to the floor), goal,
    whether it is met, and notes (the floor's name among them)."""
    cells = [("figure", "value", "floor", "x floor", "goal", "met", "note")]
    for f in figures:
        cost = f.cost
        notes = (f"floor: {f.floor_name}" if f.floor_name else "", f.note)
        cells.append(
            (
                f.name,
                "-" if f.value is None else f"{_number(f.value)} {f.unit}",
                "-" if f.floor is None else f"{_number(f.floor)} {f.unit}",
                "" if cost is None else f"{_number(cost)}x",
                "" if f.goal is None else f.goal.text(f.unit),
                {None: "", True: "yes", False: "NO"}[f.met],
                "; ".join(n for n in notes if n),
            )
        )
    widths = [max(len(row[i]) for row in cells) for i in range(6)]

    def line(row: tuple[str, ...]) -> str:
        first = row[0].ljust(widths[0])
        middle = " ".join(cell.rjust(w) for cell, w in zip(row[1:6], widths[1:], strict=True))
        return f"{first} {middle}  {row[6]}".rstrip()

    lines = [line(cells[0]), "-" * (sum(widths) + len(widths) + 5)]
    lines.extend(line(row) for row in cells[1:])
    lines.append(
        "x floor = the figure's cost relative to its floor (bare operations on the same servers, "
        "same run): 1x is as fast as the floor, 10x ten times slower"
    )
    return "\n".join(lines)
