"""Latency samples and the table the benchmarks print. Pure: no I/O, no clock."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


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
