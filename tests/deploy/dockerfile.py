"""A small reader of our Dockerfile: its stages and, per stage, the instructions."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [arg for kw, arg in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.all(keyword)
        return found[-1] if found else None


def logical_lines(text: str) -> list[str]:
    """Join continuation lines, drop comments and blank lines."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1].rstrip() + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current:
        lines.append(current.strip())
    return lines


_FROM = re.compile(r"^(?:--\S+\s+)*(?P<base>\S+)(?:\s+AS\s+(?P<name>\S+))?$", re.IGNORECASE)


def parse_stages(text: str) -> dict[str, Stage]:
    """Named stages in order (the unnamed ones are named by their index)."""
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for line in logical_lines(text):
        keyword, _, arg = line.partition(" ")
        keyword = keyword.upper()
        arg = arg.strip()
        if keyword == "FROM":
            m = _FROM.match(arg)
            assert m is not None, f"cannot read FROM {arg!r}"
            name = (m.group("name") or str(len(stages))).lower()
            current = Stage(name=name, base=m.group("base"))
            stages[name] = current
        elif current is not None:
            current.instructions.append((keyword, arg))
    return stages


def exec_form(arg: str) -> list[str]:
    """The argv of a CMD/ENTRYPOINT/HEALTHCHECK CMD (exec form as JSON, else shell words)."""
    arg = arg.strip()
    if arg.startswith("["):
        value = json.loads(arg)
        assert isinstance(value, list)
        return [str(v) for v in value]
    return shlex.split(arg)


def healthcheck_argv(arg: str) -> list[str]:
    """`HEALTHCHECK --interval=.. CMD [...]` -> the command's argv."""
    _, sep, rest = arg.partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {arg!r}"
    return exec_form(rest)


def env_of(stages: dict[str, Stage], name: str) -> dict[str, str]:
    """ENV values in effect in stage `name` (following its FROM chain)."""
    chain: list[Stage] = []
    stage: Stage | None = stages.get(name)
    while stage is not None:
        chain.append(stage)
        stage = stages.get(stage.base.lower())
    env: dict[str, str] = {}
    for st in reversed(chain):
        for arg in st.all("ENV"):
            for word in shlex.split(arg):
                key, eq, value = word.partition("=")
                if eq:
                    env[key] = value
    return env
