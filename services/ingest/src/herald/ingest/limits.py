"""Bounds on every field ingest copies from a notification into an `AlertReceived` event.

Alertmanager drops a notification on any 4xx, so an oversized field is clipped, never refused:
the alert is stored with the field shortened (ending in "…") and the annotation
`herald_clipped` listing what was clipped. The bounds are chosen so that one event, serialized
as JSON, can never exceed `MAX_EVENT_BYTES` whatever the input (see `max_event_chars`): below
NATS's default `max_payload` (1 MiB) and the ALERTS stream's `max_msg_size`, so a publish is
never refused for its size and Alertmanager never retries an alert that cannot be stored.

Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

ELLIPSIS = "…"
CLIPPED_ANNOTATION = "herald_clipped"
"""Annotation naming the fields that were clipped (comma-separated), on clipped alerts only."""

MAX_EVENT_BYTES = 768 * 1024
"""No serialized `AlertReceived` is larger (JSON escapes a character as at most 6 bytes)."""

_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class FieldLimits:
    """Lengths in characters, counts in entries."""

    label_name: int = 256
    label_value: int = 2048
    labels: int = 64
    """Most labels per alert: past it the rest (by name order) are dropped."""
    labels_total: int = 32 * 1024
    """Most characters of all label names and values together."""
    annotation_name: int = 256
    annotation_value: int = 16 * 1024
    annotations: int = 64
    annotations_total: int = 64 * 1024
    url: int = 4096
    """generatorURL, externalURL (and the source-specific URLs, stored as annotations)."""
    group_key: int = 4096
    receiver: int = 1024
    fingerprint: int = 64
    """A longer fingerprint is replaced by a hash of it (its identity is kept)."""
    clipped_note: int = 1024
    """Length of the `herald_clipped` annotation itself."""

    def max_event_chars(self) -> int:
        """Upper bound of the characters of one event's variable fields (JSON structure
        included at 8 characters per map entry, plus 2 KiB for the fixed fields)."""
        entries = (self.labels + self.annotations + 1) * 8
        return (
            self.labels_total
            + self.annotations_total
            + self.clipped_note
            + len(CLIPPED_ANNOTATION)
            + 2 * self.url
            + self.group_key
            + self.receiver
            + self.fingerprint
            + entries
            + 2048
        )


DEFAULT_LIMITS = FieldLimits()


def text(value: str) -> str:
    """`value` as valid Unicode: lone surrogates (JSON "\\ud800", which Python's decoder keeps
    and nothing can encode) become U+FFFD, as Go's encoding/json decodes them."""
    return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value


def clip(value: str, limit: int) -> str:
    """`value` cut to at most `limit` characters, ending in "…" when cut."""
    if len(value) <= limit:
        return value
    return value[: max(0, limit - 1)] + ELLIPSIS


def safe_fingerprint(value: str, limit: int) -> str:
    """A fingerprint of bounded length: as given when short enough, else a hash of it."""
    if len(value) <= limit:
        return value
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:32]


@dataclass
class Clipping:
    """What was clipped in one alert (collected while bounding its fields)."""

    notes: list[str] = field(default_factory=list)

    def field(self, name: str, value: str, limit: int) -> str:
        out = clip(value, limit)
        if out is not value:
            self.notes.append(name)
        return out

    def mapping(
        self,
        name: str,
        items: Mapping[str, str] | Iterable[tuple[str, str]],
        *,
        key_limit: int,
        value_limit: int,
        count: int,
        total: int,
        reserved: int = 0,
    ) -> dict[str, str]:
        """Entries with names and values clipped, in their order, keeping at most `count`
        entries and `total` characters (less `reserved`); the others are dropped."""
        if isinstance(items, Mapping) and len(items) <= count:
            # the usual case, nothing to clip: checked without building anything
            used = reserved
            for key, value in items.items():
                if len(key) > key_limit or len(value) > value_limit:
                    break
                used += len(key) + len(value)
            else:
                if used <= total:
                    return dict(items)
        pairs = items.items() if isinstance(items, Mapping) else items
        out: dict[str, str] = {}
        used = reserved
        dropped = 0
        for key, value in pairs:
            k = clip(key, key_limit)
            v = clip(value, value_limit)
            if k in out or len(out) >= count or used + len(k) + len(v) > total:
                dropped += 1
                continue
            if k is not key:
                self.notes.append(f"{name} name {k}")
            if v is not value:
                self.notes.append(f"{name}.{k}")
            out[k] = v
            used += len(k) + len(v)
        if dropped:
            self.notes.append(f"{name} ({dropped} dropped)")
        return out

    def note(self, limit: int) -> str | None:
        """The `herald_clipped` annotation's value, or None when nothing was clipped."""
        if not self.notes:
            return None
        return clip(", ".join(self.notes), limit)
