"""The benchmarks' pure parts on plain data, and that `make bench` finds every benchmark module.

The benchmarks themselves run in `make bench`, never here: a storm takes minutes, and a timing
is no test. What is checked: each module imports and exposes `figures`, the table builder,
the throughput arithmetic, the page fold, that the storm's payloads are valid Alertmanager
webhooks routed to the services of its generated config, and devstack's replica naming."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime

import yaml

from bench import latency
from bench.__main__ import benchmarks
from bench.page_events import Recording, fresh_board, storm_config
from bench.page_state import PageState
from bench.report import Figure, Goal, figures_table
from bench.storm import config_doc, service_ids, storm_bodies
from bench.throughput import Tick, busy_rate, crossing, done_at
from bench.webhook_bodies import Bodies
from bench.wrk import script
from devstack.processes import Stack
from herald.correlator.routing import route
from herald.ingest.alertmanager import WebhookMessage
from herald.shared.config import parse_config


def test_every_benchmark_module_is_found() -> None:
    found = benchmarks()
    assert {"latency", "storm", "page_events"} <= set(found)
    assert all(callable(run) for run in found.values())


def test_every_benchmark_module_takes_quick() -> None:
    # `make bench BENCH_ARGS=--quick` passes --quick to every module (sse_fanout refused it)
    for name in benchmarks():
        module = importlib.import_module(f"bench.{name}")
        parse = getattr(module, "parse_args", None)
        if parse is not None:
            parse(["--quick"])  # argparse exits on an unknown argument


def test_the_table_shows_value_floor_cost_and_goal() -> None:
    rows = [
        Figure("rate", 500.0, "alerts/s", "higher", 5000.0, "bare", Goal(5000.0, "higher")),
        Figure("page", 0.5, "s", "lower", 0.25, "backlog", Goal(1.0, "lower")),
        Figure("skipped", None, "s", "lower", note="firing did not catch up"),
    ]
    assert rows[0].cost == 10.0
    assert rows[0].met is False
    assert rows[1].cost == 2.0
    assert rows[1].met is True
    assert rows[2].cost is None
    assert rows[2].met is None
    lines = figures_table(rows).splitlines()
    assert lines[0].split()[:6] == ["figure", "value", "floor", "x", "floor", "goal"]
    rate, page, skipped = lines[2], lines[3], lines[4]
    assert "500 alerts/s" in rate
    assert "5,000 alerts/s" in rate
    assert "10.0x" in rate
    assert ">= 5,000 alerts/s" in rate
    assert " NO " in rate
    assert "floor: bare" in rate
    assert "2.00x" in page
    assert "<= 1.00 s" in page
    assert " yes " in page
    assert "firing did not catch up" in skipped


def test_busy_rate_leaves_out_the_time_spent_waiting_for_arrivals() -> None:
    ticks = [
        Tick(0.0, 0, 100),  # busy: 100 done in 1 s
        Tick(1.0, 100, 0),  # starved for 9 s: not counted
        Tick(10.0, 100, 200),  # busy: 200 done in 1 s
        Tick(11.0, 300, 0),
    ]
    assert busy_rate(ticks) == 150.0
    assert busy_rate(ticks, 100, 300) == 200.0
    assert busy_rate(ticks, 0, 50) == 100.0
    assert busy_rate([Tick(0.0, 0, 0), Tick(1.0, 0, 0)]) is None


def test_crossing_and_done_at_interpolate_between_readings() -> None:
    ticks = [Tick(0.0, 0, 10), Tick(2.0, 100, 0)]
    assert crossing(ticks, 50) == 1.0
    assert crossing(ticks, 101) is None
    assert done_at(ticks, 1.0) == 50.0
    assert done_at(ticks, 5.0) == 100.0


def test_the_page_state_folds_snapshots_and_changes() -> None:
    state = PageState.of(["a", "b"])
    state.apply(
        "snapshot",
        {
            "components": [
                {"id": "grp", "group": True, "status": "major_outage"},
                {"id": "a", "group": False, "status": "operational"},
                {"id": "b", "group": False, "status": "operational"},
            ]
        },
    )
    assert state.all_show("operational")
    state.apply("incident.opened", {"service": "a", "component": {"status": "major_outage"}})
    assert not state.all_show("operational")
    state.apply("incident.opened", {"service": "b", "component": {"status": "major_outage"}})
    state.apply("incident.opened", {"service": "other", "component": {"status": "operational"}})
    assert state.all_show("major_outage")


def test_storm_webhooks_are_valid_and_route_to_the_generated_services() -> None:
    ids = service_ids(3)
    config = parse_config(yaml.safe_dump(config_doc(ids)))
    assert list(config.services) == ids
    starts = datetime(2026, 1, 1, tzinfo=UTC)
    firing = storm_bodies(7, ids, 3, starts, resolved=False)
    resolved = storm_bodies(7, ids, 3, starts, resolved=True)
    assert len(firing) == len(resolved) == 3
    seen: set[str] = set()
    for body, end in zip(firing, resolved, strict=True):
        fire, res = WebhookMessage.model_validate(json.loads(body)), json.loads(end)
        assert fire.truncated_alerts == 0
        assert res["status"] == "resolved"
        assert res["groupKey"] == json.loads(body)["groupKey"]
        for a in fire.alerts:
            assert route(dict(a.labels), config) in ids
            seen.add(a.effective_fingerprint())
    assert len(seen) == 7  # every alert distinct
    assert len({json.loads(b)["groupKey"] for b in firing}) == 3  # one group per webhook


def test_a_stack_names_and_ports_its_extra_replicas() -> None:
    env = {"HERALD_CORRELATOR_PORT": "9002"}
    stack = Stack(env, extra_replicas={"correlator": [9102, 9202]})
    names = [name for name, _ in stack.instances()]
    assert names == [
        "statuspage",
        "ingest",
        "correlator",
        "correlator-2",
        "correlator-3",
        "notifier",
    ]
    assert stack.ports["correlator"] == 9002
    assert stack.url("correlator-3") == "http://127.0.0.1:9202"
    assert dict(stack.instances())["correlator-2"] == "correlator"


def test_ingest_load_bodies_are_valid_webhooks_with_new_fingerprints_each_request() -> None:
    bodies = Bodies.of(100, "0a")
    first = WebhookMessage.model_validate_json(bodies.body(1))
    second = WebhookMessage.model_validate_json(bodies.body(2))
    assert len(first.alerts) == 100
    prints = {a.fingerprint for a in (*first.alerts, *second.alerts)}
    assert len(prints) == 200
    assert all(p.startswith("0a") for p in prints)
    lua = script(bodies, "/hooks/inbound/t")
    assert lua.count("@REQUEST-ID@") == 0
    assert "table.concat(parts, id)" in lua
    assert "ingest" in benchmarks()


def test_a_page_events_recording_reads_back_and_folds_on_a_fresh_board(tmp_path) -> None:
    config = storm_config(2)
    event = {
        "kind": "component.status_changed",
        "event_id": "e1",
        "occurred_at": "2026-01-01T00:00:00Z",
        "service": "svc-001",
        "version": 1,
        "status": "major_outage",
        "previous_status": "operational",
    }
    data = json.dumps(event).encode()
    recording = Recording(
        2, {"firing": [(1, data)], "resolving": [(2, data.replace(b"e1", b"e2"))]}
    )
    path = tmp_path / "storm.events"
    recording.save(path)
    assert Recording.load(path) == recording
    board = fresh_board(config)
    assert board.fanout.clients  # one browser connected, its writes complete at once
    sse = board.receive(data, 1)
    assert sse is not None
    assert json.loads(sse.data)["component"]["status"] == "major_outage"


def test_make_bench_measures_latency_under_the_goals_load_unless_told_otherwise() -> None:
    assert latency.at_goal_load([]) == ["--load", "500"]
    assert latency.at_goal_load(["--quick"]) == ["--quick", "--load", "500"]
    assert latency.at_goal_load(["--load", "0"]) == ["--load", "0"]
    assert latency.at_goal_load(["--load=100"]) == ["--load=100"]
    assert latency.parse_args(latency.at_goal_load(["--quick"])).load == 500
