"""Redis key names. Every key of one service shares the hash tag `{service}` so that one
atomic step (MULTI/EXEC or a Lua script) over them works on Redis Cluster too."""

from __future__ import annotations

PREFIX = "herald"


def service_key(service: str, part: str) -> str:
    """`herald:{payments-api}:part`."""
    return f"{PREFIX}:{{{service}}}:{part}"


def status_key(service: str) -> str:
    """The public ServiceStatus projection of one service (JSON), read by the status page."""
    return service_key(service, "status")


UNROUTED = "_unrouted"
"""Pseudo-service under which alerts that match no configured service are kept."""


def component_created_key(service: str) -> str:
    """When the service's component first appeared on a status page (ISO 8601, set once with
    SET NX by the status page: the Statuspage `created_at` of the component)."""
    return service_key(service, "component_created_at")


SUBSCRIBERS = "subscribers"
"""Hash tag of every subscriber key: the list is one small set of keys on one Cluster slot."""


def subscriber_key(subscriber_id: str) -> str:
    """One confirmed subscriber (JSON): channel, address, components, created_at."""
    return service_key(SUBSCRIBERS, f"subscriber:{subscriber_id}")


def subscribers_index_key() -> str:
    """The set of every subscriber id."""
    return service_key(SUBSCRIBERS, "index")


def signup_limit_key(scope: str, digest: str) -> str:
    """A sign-up rate counter (`ip` or `address`, a digest of it, never the value), with a TTL."""
    return service_key(SUBSCRIBERS, f"limit:{scope}:{digest}")


def digest_key(topic: str) -> str:
    """What is still to be told about one incident (or component) and when it was last told."""
    return service_key(SUBSCRIBERS, f"digest:{topic}")


def digests_due_key() -> str:
    """Sorted set: digest topic -> when it is due (epoch seconds)."""
    return service_key(SUBSCRIBERS, "due")


def told_key(subscriber_id: str) -> str:
    """Sorted set: `<topic>:<version>` -> when this subscriber was told it (no double message
    on a retry), the last week's. One key per subscriber, so removing one deletes it too."""
    return service_key(SUBSCRIBERS, f"told:{subscriber_id}")


def status_history_key(service: str) -> str:
    """Sorted set of the component's status changes (`{version}:{status}`, scored by the epoch
    seconds they happened at), kept for the history retention (the status page's uptime bars)."""
    return service_key(service, "history:status")


def incident_history_key(service: str) -> str:
    """Sorted set of the service's resolved incidents (their id, scored by the epoch seconds they
    started at), kept for the history retention (the status page's history)."""
    return service_key(service, "history:incidents")


def archived_incident_key(service: str, incident_id: str) -> str:
    """One resolved incident as last told (a hash: `version`, `doc` the Incident JSON), expiring
    with the history retention."""
    return service_key(service, f"history:incident:{incident_id}")
