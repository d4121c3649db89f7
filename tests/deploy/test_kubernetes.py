"""deploy/kubernetes: each overlay rendered with kustomize and every object validated offline
against the Kubernetes JSON schemas (the `kubernetes-validate` package ships them), then
checked for what Herald needs: ports and probes, lock-down, wiring of config and secrets,
a replicated JetStream in production."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
import yaml

from devstack.infrastructure import wait_listening
from herald.shared.config import load_config, parse_config
from tests.deploy.catalog import DEPLOY, HEALTH_PATH, READY_PATH, ROOT, SERVICES
from tests.deploy.rules import META_GROUP, rule_groups
from tests.deploy.tools import kustomize_argv, require, run
from tests.infra import free_port

KUBERNETES = DEPLOY / "kubernetes"
OVERLAYS = ("dev", "prod")
KUBERNETES_VERSIONS = ("1.30", "latest")
"""The oldest Kubernetes we support and the newest the schemas know."""
CUSTOM_RESOURCES = {
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
}
"""Prometheus Operator kinds: no schema in kubernetes-validate; checked by the tests below."""
WORKLOAD_KINDS = {"Deployment", "StatefulSet"}
SECRETS_DIR = "/etc/herald/secrets/"

Obj = dict[str, Any]


def kubernetes_validate() -> Any:
    try:
        import kubernetes_validate as kv  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        pytest.fail(
            "The Python package `kubernetes-validate` (Kubernetes JSON schemas, offline) is "
            "missing: add it to the dev dependency group (`uv add --dev kubernetes-validate`)."
        )
    return kv


@cache
def render(overlay: str) -> tuple[Obj, ...]:
    out = run(kustomize_argv(KUBERNETES / "overlays" / overlay))
    return tuple(doc for doc in yaml.safe_load_all(out.stdout) if doc)


@pytest.fixture(params=OVERLAYS)
def objects(request: pytest.FixtureRequest) -> tuple[Obj, ...]:
    return render(request.param)


def of_kind(objs: tuple[Obj, ...], kind: str) -> list[Obj]:
    return [o for o in objs if o["kind"] == kind]


def named(objs: tuple[Obj, ...], kind: str, prefix: str) -> Obj:
    """The object of `kind` named `prefix` (or generated from it: `prefix-<hash>`)."""
    found = [
        o
        for o in of_kind(objs, kind)
        if o["metadata"]["name"] == prefix
        or (
            o["metadata"]["name"].startswith(prefix + "-")
            and len(o["metadata"]["name"]) == len(prefix) + 11
        )  # kustomize's 10-char hash
    ]
    assert len(found) == 1, (
        f"expected one {kind} {prefix!r}, found {[o['metadata']['name'] for o in found]}"
    )
    return found[0]


def pod_specs(objs: tuple[Obj, ...]) -> Iterator[tuple[Obj, Obj]]:
    for o in objs:
        if o["kind"] in WORKLOAD_KINDS:
            yield o, o["spec"]["template"]["spec"]


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": labels.get(key) in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def selected_workloads(objs: tuple[Obj, ...], selector: Obj) -> list[Obj]:
    return [
        w
        for w, _ in pod_specs(objs)
        if selects(selector, w["spec"]["template"]["metadata"]["labels"])
    ]


def container_ports(workload: Obj) -> dict[str, int]:
    return {
        p["name"]: p["containerPort"]
        for c in workload["spec"]["template"]["spec"]["containers"]
        for p in c.get("ports", [])
        if "name" in p
    }


def config_map_file(objs: tuple[Obj, ...], prefix: str, key: str) -> str:
    text = named(objs, "ConfigMap", prefix)["data"][key]
    assert isinstance(text, str)
    return text


# --- rendering and schemas -----------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_matches_the_kubernetes_schema(overlay: str, version: str) -> None:
    kv = kubernetes_validate()
    k8s_version = kv.latest_version() if version == "latest" else version
    problems: list[str] = []
    for obj in render(overlay):
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        if (obj["apiVersion"], obj["kind"]) in CUSTOM_RESOURCES:
            continue
        try:
            kv.validate(obj, k8s_version, strict=True)
        except kv.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            problems.append(f"{where}: {path}: {exc.message}")
        except kv.SchemaNotFoundError as exc:
            problems.append(f"{where}: {exc.message}")
    assert not problems, f"{overlay} against Kubernetes {k8s_version}:\n" + "\n".join(problems)


def test_the_schema_check_is_not_vacuous() -> None:
    kv = kubernetes_validate()
    deployment = of_kind(render("dev"), "Deployment")[0]
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, "1.30", strict=True)


def test_every_object_lives_in_the_overlay_namespace(objects: tuple[Obj, ...]) -> None:
    (namespace,) = of_kind(objects, "Namespace")
    name = namespace["metadata"]["name"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == name, (
                f"{obj['kind']}/{obj['metadata']['name']}"
            )


# --- Herald's services ---------------------------------------------------------------------


def test_each_service_runs_its_image_on_its_port_with_probes(objects: tuple[Obj, ...]) -> None:
    for name, spec in SERVICES.items():
        deployment = named(objects, "Deployment", f"herald-{name}")
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        image = container["image"].rpartition(":")[0] or container["image"]
        assert image.endswith(f"herald-{name}"), container["image"]
        ports = container_ports(deployment)
        assert ports == {"http": spec.port, "internal": spec.internal_port}
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert env[spec.port_var] == str(spec.port)
        assert env[spec.internal_port_var] == str(spec.internal_port)
        for probe, path in (
            ("readinessProbe", READY_PATH),
            ("livenessProbe", HEALTH_PATH),
            ("startupProbe", HEALTH_PATH),
        ):
            get = container[probe]["httpGet"]
            assert get["path"] == path, f"{name} {probe}"
            assert ports[get["port"]] == spec.internal_port, f"{name} {probe}"
        resources = container["resources"]
        assert {"cpu", "memory"} <= resources["requests"].keys(), name
        assert "memory" in resources["limits"], name
        # Service links would inject HERALD_<NAME>_PORT=tcp://... from the Service herald-<name>.
        assert pod["enableServiceLinks"] is False, name
        assert pod["automountServiceAccountToken"] is False, name


def test_every_container_is_locked_down(objects: tuple[Obj, ...]) -> None:
    for workload, pod in pod_specs(objects):
        pod_ctx = pod.get("securityContext", {})
        assert pod_ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault"
        for container in pod["containers"] + pod.get("initContainers", []):
            where = f"{workload['metadata']['name']}/{container['name']}"
            ctx = container.get("securityContext", {})
            assert ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is True, where
            assert ctx.get("readOnlyRootFilesystem") is True, where
            assert ctx.get("allowPrivilegeEscalation") is False, where
            assert ctx.get("capabilities", {}).get("drop") == ["ALL"], where
            assert "memory" in container.get("resources", {}).get("limits", {}), where


def test_services_select_pods_and_target_their_ports(objects: tuple[Obj, ...]) -> None:
    for service in of_kind(objects, "Service"):
        workloads = selected_workloads(objects, {"matchLabels": service["spec"]["selector"]})
        assert len(workloads) == 1, service["metadata"]["name"]
        ports = container_ports(workloads[0])
        for port in service["spec"]["ports"]:
            target = port["targetPort"]
            assert target in ports if isinstance(target, str) else target in ports.values()
    for name, spec in SERVICES.items():
        service = named(objects, "Service", f"herald-{name}")
        assert [p["port"] for p in service["spec"]["ports"]] == [spec.port, spec.internal_port]


def test_autoscalers_and_disruption_budgets_target_real_workloads(objects: tuple[Obj, ...]) -> None:
    deployments = {d["metadata"]["name"] for d in of_kind(objects, "Deployment")}
    scaled = {
        h["spec"]["scaleTargetRef"]["name"] for h in of_kind(objects, "HorizontalPodAutoscaler")
    }
    assert scaled == {"herald-ingest", "herald-statuspage"}
    assert scaled <= deployments
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        target = named(objects, "Deployment", hpa["spec"]["scaleTargetRef"]["name"])
        # `kubectl apply` would reset an autoscaled Deployment to a replicas it declares.
        assert "replicas" not in target["spec"], target["metadata"]["name"]
    budgeted = set()
    for pdb in of_kind(objects, "PodDisruptionBudget"):
        workloads = selected_workloads(objects, pdb["spec"]["selector"])
        assert len(workloads) == 1, pdb["metadata"]["name"]
        budgeted.add(workloads[0]["metadata"]["name"])
    assert {f"herald-{n}" for n in SERVICES} <= budgeted


def test_network_policies_deny_by_default_and_open_real_paths(objects: tuple[Obj, ...]) -> None:
    policies = of_kind(objects, "NetworkPolicy")
    assert any(p["spec"]["podSelector"] == {} and "ingress" not in p["spec"] for p in policies)
    for policy in policies:
        workloads = selected_workloads(objects, policy["spec"]["podSelector"])
        assert workloads, f"NetworkPolicy {policy['metadata']['name']} selects no pod"
        for rule in policy["spec"].get("ingress", []):
            for source in rule.get("from", []):
                if "podSelector" in source and "namespaceSelector" not in source:
                    assert selected_workloads(objects, source["podSelector"]), policy["metadata"][
                        "name"
                    ]
            named_ports = {p["port"] for p in rule.get("ports", []) if isinstance(p["port"], str)}
            numbers = {p["port"] for p in rule.get("ports", []) if isinstance(p["port"], int)}
            offered = [container_ports(w) for w in workloads]
            for port in named_ports:
                assert any(port in ports for ports in offered), (
                    f"{policy['metadata']['name']}: {port}"
                )
            for number in numbers:
                assert any(number in ports.values() for ports in offered), policy["metadata"][
                    "name"
                ]
    # Every Herald port is reachable by someone.
    for name in SERVICES:
        labels = named(objects, "Deployment", f"herald-{name}")["spec"]["template"]["metadata"][
            "labels"
        ]
        assert any(
            selects(p["spec"]["podSelector"], labels) and p["spec"].get("ingress") for p in policies
        ), name


def test_only_the_monitoring_namespace_reaches_the_internal_ports(objects: tuple[Obj, ...]) -> None:
    """/healthz, /readyz and /metrics are on the `internal` port; a NetworkPolicy restricts a
    port, not a path: no rule opens every port of a Herald pod, and every rule that opens the
    internal port admits the monitoring namespace only."""
    internal = {"internal"} | {spec.internal_port for spec in SERVICES.values()}
    herald = [
        named(objects, "Deployment", f"herald-{name}")["spec"]["template"]["metadata"]["labels"]
        for name in SERVICES
    ]
    opened = False
    for policy in of_kind(objects, "NetworkPolicy"):
        name = policy["metadata"]["name"]
        if not any(selects(policy["spec"]["podSelector"], labels) for labels in herald):
            continue
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("ports"), f"{name}: a rule without ports opens every port"
            if not {p["port"] for p in rule["ports"]} & internal:
                continue
            opened = True
            assert rule.get("from"), f"{name}: the internal port open to everyone"
            for source in rule["from"]:
                assert source == {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                    }
                }, name
    assert opened, "no policy lets Prometheus scrape the internal ports"


# --- configuration and secrets -------------------------------------------------------------


def test_the_config_map_is_the_example_with_kubernetes_secrets(objects: tuple[Obj, ...]) -> None:
    text = config_map_file(objects, "herald-config", "herald.yaml")
    config = parse_config(text, "herald-config/herald.yaml")
    example = load_config(ROOT / "examples" / "herald.yaml")
    for part in ("groups", "services", "severity", "oncall"):
        assert getattr(config, part) == getattr(example, part), part
    assert config.channels.keys() == example.channels.keys()
    publics = {iid: i.public for iid, i in config.integrations.items()}
    assert sorted(publics.values()) == [False, True], "one public and one internal integration"


def secret_files(objects: tuple[Obj, ...]) -> set[str]:
    """Every {file: ...} secret the config map's herald.yaml reads."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                found.add(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load(config_map_file(objects, "herald-config", "herald.yaml")))
    return found


def test_every_secret_file_of_the_config_is_mounted_where_it_is_used(
    objects: tuple[Obj, ...],
) -> None:
    files = secret_files(objects)
    assert files
    assert all(f.startswith(SECRETS_DIR) for f in files)
    needed = {
        "ingest": {f for f in files if "alertmanager" in f},
        "notifier": {f for f in files if "pager" in f},
    }
    for name in SERVICES:
        deployment = named(objects, "Deployment", f"herald-{name}")
        pod = deployment["spec"]["template"]["spec"]
        mounts = {m["name"]: m for m in pod["containers"][0]["volumeMounts"]}
        secret_volumes = {
            v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v
        }
        if name not in needed:
            assert not secret_volumes, f"{name} needs no secret"
            continue
        ((volume, secret_name),) = secret_volumes.items()
        assert mounts[volume]["mountPath"].rstrip("/") + "/" == SECRETS_DIR
        secret = next(s for s in of_kind(objects, "Secret") if s["metadata"]["name"] == secret_name)
        keys = set(secret.get("data", {}))
        assert {f.removeprefix(SECRETS_DIR) for f in needed[name]} <= keys, name


def test_the_secret_placeholders_are_obvious(objects: tuple[Obj, ...]) -> None:
    tokens = named(objects, "Secret", "herald-ingest-tokens")
    for key, value in tokens["data"].items():
        assert base64.b64decode(value).decode().startswith("CHANGE-ME"), key


def test_the_environment_points_at_the_infrastructure_services(objects: tuple[Obj, ...]) -> None:
    env = named(objects, "ConfigMap", "herald-env")["data"]
    assert env["HERALD_HOST"] == "0.0.0.0"
    for var, service, port in (("NATS_URL", "nats", 4222), ("REDIS_URL", "redis", 6379)):
        url = urlsplit(env[var])
        assert (url.hostname, url.port) == (service, port), var
        target = named(objects, "Service", service)
        assert port in [p["port"] for p in target["spec"]["ports"]]
    for name in SERVICES:
        container = named(objects, "Deployment", f"herald-{name}")["spec"]["template"]["spec"][
            "containers"
        ][0]
        mounts = [m["mountPath"] for m in container["volumeMounts"]]
        assert env["HERALD_CONFIG"] in mounts, name


# --- infrastructure per overlay ------------------------------------------------------------


def test_dev_runs_single_nats_and_redis_instances() -> None:
    objs = render("dev")
    nats = named(objs, "StatefulSet", "nats")
    redis = named(objs, "StatefulSet", "redis")
    assert nats["spec"]["replicas"] == redis["spec"]["replicas"] == 1
    args = nats["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "-js" in args
    assert args[args.index("-sd") + 1] == "/data"


def test_prod_runs_a_three_node_jetstream_cluster_with_replicated_streams() -> None:
    objs = render("prod")
    nats = named(objs, "StatefulSet", "nats")
    replicas = nats["spec"]["replicas"]
    assert replicas == 3
    assert nats["spec"]["podManagementPolicy"] == "Parallel"
    headless = named(objs, "Service", nats["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    conf = config_map_file(objs, "nats-config", "nats.conf")
    for i in range(replicas):
        assert f"nats://nats-{i}.{headless['metadata']['name']}:6222" in conf
    env = named(objs, "ConfigMap", "herald-env")["data"]
    assert env["HERALD_STREAM_REPLICAS"] == str(replicas)
    pdb = named(objs, "PodDisruptionBudget", "nats")
    assert pdb["spec"]["maxUnavailable"] == 1


def test_prod_nats_config_is_valid_for_nats_server(tmp_path: Path) -> None:
    conf = tmp_path / "nats.conf"
    conf.write_text(config_map_file(render("prod"), "nats-config", "nats.conf"), encoding="utf-8")
    env = {**os.environ, "POD_NAME": "nats-0"}
    out = run([require("nats-server"), "-t", "-c", str(conf)], env=env)
    assert "valid" in out.stdout + out.stderr


def test_prod_redis_config_persists_and_never_evicts(tmp_path: Path) -> None:
    """Start a real redis-server with the rendered redis.conf and read its effective settings."""
    conf = tmp_path / "redis.conf"
    text = config_map_file(render("prod"), "redis-config", "redis.conf")
    assert "\ndir /data\n" in text, "Redis keeps its files on the volume mounted at /data"
    # redis-server enters `dir` while reading the file: point it at a directory that exists here.
    conf.write_text(text.replace("\ndir /data\n", f"\ndir {tmp_path}\n"), encoding="utf-8")
    port = free_port()
    argv = [
        require("redis-server"),
        str(conf),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--daemonize",
        "no",
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        try:
            wait_listening(port, proc)
        except RuntimeError:
            out = proc.stdout.read().decode() if proc.stdout and proc.poll() is not None else ""
            pytest.fail(f"redis-server did not start with redis.conf:\n{out}")
        client = redis.Redis(port=port, socket_connect_timeout=5)
        keys = ("appendonly", "appendfsync", "maxmemory-policy", "save")
        settings = {k: client.config_get(k)[k] for k in keys}
        client.close()
    finally:
        proc.terminate()
        proc.wait(10)
    assert settings["appendonly"] == "yes"
    assert settings["appendfsync"] == "everysec"
    assert settings["maxmemory-policy"] == "noeviction"
    assert settings["save"], "RDB snapshots (for backups) are configured"


# --- Prometheus Operator resources ---------------------------------------------------------


def test_prod_ships_the_rules_and_the_scrape_config() -> None:
    objs = render("prod")
    kinds = {(o["apiVersion"], o["kind"]) for o in objs}
    assert kinds >= CUSTOM_RESOURCES
    (rule,) = of_kind(objs, "PrometheusRule")
    assert rule["spec"]["groups"] == [g for g in rule_groups() if g["name"] != META_GROUP]
    (monitor,) = of_kind(objs, "ServiceMonitor")
    services = [
        s
        for s in of_kind(objs, "Service")
        if selects(monitor["spec"]["selector"], s["metadata"].get("labels", {}))
    ]
    assert {s["metadata"]["name"] for s in services} == {f"herald-{n}" for n in SERVICES}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["path"] == "/metrics"
        assert endpoint["port"] == "internal"  # the public ports serve no /metrics
        assert all(endpoint["port"] in [p["name"] for p in s["spec"]["ports"]] for s in services)


def test_prod_images_are_pinned() -> None:
    for workload, pod in pod_specs(render("prod")):
        for container in pod["containers"]:
            image = container["image"]
            tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
            assert tag not in {"", "latest"}, f"{workload['metadata']['name']}: {image}"
