"""What a load generator run measured. Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LoadResult:
    requests: int
    """Responses received (any status)."""
    seconds: float
    errors: int
    """Connection errors and timeouts."""
    non_2xx: int
    """Responses with a status other than 2xx (wrk: >= 400)."""
    tool: str

    @property
    def ok(self) -> int:
        return self.requests - self.non_2xx

    @property
    def rate(self) -> float:
        """2xx responses per second."""
        return self.ok / self.seconds if self.seconds > 0 else 0.0
