"""Alertmanager-style label matchers: `name="value"`, `name!="value"`, `name=~"re"`, `name!~"re"`.

Regular expressions are anchored, as in Alertmanager. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Op = Literal["=", "!=", "=~", "!~"]

_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Op
    value: str
    pattern: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """Parse one matcher; ValueError says what is wrong."""
        m = _MATCHER.match(text)
        if not m:
            raise ValueError(f'{text!r} is not a matcher like name="value", name!="v", name=~"re"')
        name, op, raw = m.group(1), m.group(2), m.group(3)
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'":
            raw = raw[1:-1]
        pattern = None
        if op in ("=~", "!~"):
            try:
                pattern = re.compile(f"^(?:{raw})$")
            except re.error as exc:
                raise ValueError(f"{text!r}: invalid regular expression: {exc}") from None
        return cls(name=name, op=op, value=raw, pattern=pattern)  # type: ignore[arg-type]

    def matches(self, labels: dict[str, str]) -> bool:
        got = labels.get(self.name, "")
        if self.op == "=":
            return got == self.value
        if self.op == "!=":
            return got != self.value
        assert self.pattern is not None
        found = self.pattern.match(got) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{self.value}"'


def matches_all(matchers: tuple[Matcher, ...], labels: dict[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
