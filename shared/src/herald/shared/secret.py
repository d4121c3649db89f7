"""Secret references in the configuration: `{env: NAME}`, `{file: /path}`, or a literal.

Secrets are resolved when the configuration is loaded; their values never appear in
`repr()`, logs or error messages.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


class SecretRef(BaseModel):
    """Where a secret comes from. Written in YAML as a plain string (a literal, for tests and
    demos) or as a mapping with exactly one of `env` / `file`, plus `default` and `optional`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    env: str | None = None
    """Name of an environment variable holding the secret."""
    file: str | None = None
    """Path of a file holding the secret (e.g. a mounted Kubernetes Secret); trailing newline stripped."""
    value: str | None = None
    """A literal value (discouraged outside demos and tests)."""
    default: str | None = None
    """Used when the variable is unset or empty."""
    optional: bool = False
    """When true, an unresolvable secret resolves to None (the feature using it is disabled)."""

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"value": data}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> SecretRef:
        sources = [s for s in (self.env, self.file, self.value) if s is not None]
        if len(sources) != 1:
            raise ValueError("a secret needs exactly one of 'env', 'file' or a literal string")
        return self

    def describe(self) -> str:
        """Where the secret comes from, safe to print."""
        if self.env is not None:
            return f"environment variable {self.env}"
        if self.file is not None:
            return f"file {self.file}"
        return "literal value"

    def resolve(self, environ: dict[str, str] | None = None) -> str | None:
        """The secret's value; None only when `optional`. Raises ValueError naming the source."""
        env = os.environ if environ is None else environ
        found: str | None = None
        if self.value is not None:
            found = self.value
        elif self.env is not None:
            found = env.get(self.env) or None
        elif self.file is not None:
            try:
                found = Path(self.file).read_text(encoding="utf-8").rstrip("\r\n") or None
            except OSError as exc:
                if self.default is None and not self.optional:
                    raise ValueError(
                        f"cannot read secret {self.describe()}: {exc.strerror}"
                    ) from exc
        if found is None:
            found = self.default
        if found is None and not self.optional:
            raise ValueError(f"secret {self.describe()} is not set")
        return found
