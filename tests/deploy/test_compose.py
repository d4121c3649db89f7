"""compose.yaml, Dockerfile and .dockerignore, checked offline (no Docker engine needed).

compose.yaml is validated against the compose-spec JSON schema vendored under schemas/
(taken from the `check-jsonschema` PyPI package, which vendors it from compose-spec/compose-spec;
license beside it), then checked against the Dockerfile: every target exists, ports and
health paths agree, each image installs only its own package.
"""

from __future__ import annotations

import fnmatch
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped,unused-ignore]
import pytest
import yaml

from tests.deploy.catalog import HEALTH_PATH, ROOT, SERVICES, workspace_services
from tests.deploy.dockerfile import Stage, env_of, exec_form, healthcheck_argv, parse_stages

SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"
CONFIG_TARGET = "/etc/herald/herald.yaml"


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@cache
def stages() -> dict[str, Stage]:
    return parse_stages((ROOT / "Dockerfile").read_text(encoding="utf-8"))


def herald_services() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose()["services"].items() if "build" in svc}


def probe_url(argv: list[str]) -> str:
    """The URL a healthcheck command fetches."""
    urls = [m for arg in argv for m in re.findall(r"https?://[^\s'\"]+", arg)]
    assert len(urls) == 1, f"expected one URL in healthcheck {argv}"
    return str(urls[0])


# --- compose.yaml --------------------------------------------------------------------------


def test_compose_file_matches_the_compose_spec_schema() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(compose()), key=lambda e: list(e.path))
    assert not errors, "\n".join(
        f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors
    )


def test_the_schema_rejects_a_broken_compose_file() -> None:
    """The schema check is not vacuous: a typo in a service key is caught."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    broken = {"services": {"ingest": {"image": "x", "helthcheck": {}}}}
    assert list(jsonschema.validators.validator_for(schema)(schema).iter_errors(broken))


def test_every_service_has_an_image_built_from_its_dockerfile_target() -> None:
    assert set(herald_services()) == set(SERVICES) == workspace_services()
    for name, svc in herald_services().items():
        assert svc["build"]["context"] == "."
        assert svc["build"]["target"] == name
        assert name in stages(), f"compose builds target {name!r}, missing from the Dockerfile"


def test_service_ports_environment_and_healthchecks_agree() -> None:
    for name, svc in herald_services().items():
        spec = SERVICES[name]
        env = svc["environment"]
        assert env[spec.port_var] == str(spec.port)
        assert env[spec.internal_port_var] == str(spec.internal_port)
        assert env["HERALD_HOST"] == "0.0.0.0"
        assert env["NATS_URL"] == "nats://nats:4222"
        assert env["REDIS_URL"].startswith("redis://redis:6379")
        assert env["HERALD_CONFIG"] == CONFIG_TARGET
        published = [p["target"] for p in svc.get("ports", [])]
        targets = published + [int(p) for p in svc.get("expose", [])]
        assert sorted(targets) == [spec.port, spec.internal_port], f"{name}: ports {targets}"
        # the probes and metrics are never published to the host
        assert spec.internal_port not in published, name
        assert (
            probe_url(svc["healthcheck"]["test"])
            == f"http://127.0.0.1:{spec.internal_port}{HEALTH_PATH}"
        )


def test_published_ports_bind_to_loopback_unless_configured() -> None:
    for name, svc in herald_services().items():
        for port in svc.get("ports", []):
            assert port["host_ip"] == "${HERALD_BIND_ADDRESS:-127.0.0.1}", name


def test_services_wait_for_healthy_dependencies() -> None:
    services = compose()["services"]
    for name, svc in herald_services().items():
        deps = svc["depends_on"]
        assert "nats" in deps, name
        for dep, cond in deps.items():
            assert cond["condition"] == "service_healthy", f"{name} -> {dep}"
            assert "healthcheck" in services[dep], f"{dep} has no healthcheck"
    for name in ("correlator", "notifier", "statuspage"):
        assert "redis" in services[name]["depends_on"]


def test_the_example_config_is_mounted_read_only() -> None:
    for name, svc in herald_services().items():
        mounts = [v for v in svc["volumes"] if v["target"] == CONFIG_TARGET]
        assert len(mounts) == 1, name
        assert mounts[0]["source"] == "./examples/herald.yaml"
        assert mounts[0]["read_only"] is True
        assert (ROOT / "examples" / "herald.yaml").is_file()


def test_the_demo_token_comes_from_the_environment_and_is_required() -> None:
    for svc in herald_services().values():
        assert svc["environment"]["HERALD_DEMO_TOKEN"].startswith("${HERALD_DEMO_TOKEN:?")


def test_containers_are_locked_down() -> None:
    for name, svc in herald_services().items():
        assert svc["read_only"] is True, name
        assert svc["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in svc["security_opt"], name


def test_nats_runs_jetstream_and_redis_appends_on_named_volumes() -> None:
    services = compose()["services"]
    nats, redis = services["nats"], services["redis"]
    assert nats["image"].startswith("nats:2.10")
    cmd = nats["command"]
    assert "-js" in cmd
    assert cmd[cmd.index("-sd") + 1] == "/data"
    assert redis["image"].startswith("redis:7")
    rcmd = redis["command"]
    assert rcmd[rcmd.index("--appendonly") + 1] == "yes"
    for svc in (nats, redis):
        volume, _, path = svc["volumes"][0].partition(":")
        assert path == "/data"
        assert volume in compose()["volumes"]


# --- Dockerfile ----------------------------------------------------------------------------


def test_each_target_installs_only_its_own_package_from_the_lock() -> None:
    for name, spec in SERVICES.items():
        build = stages()[f"build-{name}"]
        syncs = [arg for arg in build.all("RUN") if "uv sync" in arg]
        assert syncs, f"build-{name} runs no uv sync"
        for arg in syncs:
            words = arg.split()
            assert "--frozen" in words, arg
            assert "--no-dev" in words, arg
            assert words[words.index("--package") + 1] == spec.package, arg
        assert "--no-editable" in syncs[-1].split()
        copied = [a for a in build.all("COPY") if "services/" in a]
        assert copied == [f"services/{name}/src services/{name}/src"], copied
        final = stages()[name]
        assert final.all("COPY") == [f"--from=build-{name} /opt/herald/venv /opt/herald/venv"]


def workspace_members() -> list[str]:
    """Every member folder of the uv workspace, as the root pyproject.toml declares them."""
    import tomllib

    root = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    members: list[str] = []
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        for path in sorted(ROOT.glob(pattern)):
            if (path / "pyproject.toml").exists():
                members.append(path.relative_to(ROOT).as_posix())
    return members


def test_the_builder_sees_every_workspace_member() -> None:
    """uv resolves the workspace from the lock: each member's pyproject.toml must be copied
    (and let through .dockerignore), or `uv sync --frozen` fails in the image build."""
    copies = stages()["builder"].all("COPY")
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    members = workspace_members()
    assert {"shared", "cli", "services/ingest"} <= set(members)
    for member in members:
        assert f"{member}/pyproject.toml {member}/pyproject.toml" in copies, member
        assert not ignored(f"{member}/pyproject.toml", patterns), member
    assert "pyproject.toml uv.lock ./" in copies


def test_each_target_runs_its_module_on_its_port_with_a_healthcheck() -> None:
    for name, spec in SERVICES.items():
        final = stages()[name]
        cmd = final.last("CMD")
        assert cmd is not None
        assert exec_form(cmd) == ["python", "-m", spec.module]
        assert final.all("EXPOSE") == [str(spec.port), str(spec.internal_port)]
        health = final.last("HEALTHCHECK")
        assert health is not None
        assert (
            probe_url(healthcheck_argv(health))
            == f"http://127.0.0.1:{spec.internal_port}{HEALTH_PATH}"
        )
        env = env_of(stages(), name)
        assert env[spec.port_var] == str(spec.port)
        assert env[spec.internal_port_var] == str(spec.internal_port)
        assert env["HERALD_HOST"] == "0.0.0.0"
        assert env["HERALD_CONFIG"] == CONFIG_TARGET


def test_images_run_as_a_non_root_user() -> None:
    for name in SERVICES:
        chain = [stages()[name]]
        while chain[-1].base.lower() in stages():
            chain.append(stages()[chain[-1].base.lower()])
        users = [u for st in reversed(chain) for u in st.all("USER")]
        assert users, f"{name}: no USER"
        user = users[-1].split(":")[0]
        assert user not in {"root", "0"}, name


# --- .dockerignore -------------------------------------------------------------------------


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatchcase(p, pattern) for p in prefixes):
            result = not negate
    return result


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("pyproject.toml", False),
        ("uv.lock", False),
        ("shared/pyproject.toml", False),
        ("shared/src/herald/shared/config.py", False),
        ("services/ingest/pyproject.toml", False),
        ("services/statuspage/src/herald/statuspage/templates/page.html", False),
        (".venv/bin/python", True),
        (".git/config", True),
        ("services/ingest/tests/test_app.py", True),
        ("shared/src/herald/shared/__pycache__/config.cpython-311.pyc", True),
        ("tests/infra.py", True),
        (".run/nats/jetstream", True),
    ],
)
def test_the_build_context_holds_only_what_the_images_need(path: str, expected: bool) -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    assert ignored(path, patterns) is expected
