"""The deployment files, checked statically (no Docker engine runs here).

Debian's ``docker-compose`` validates docker-compose.yml offline; the rest reads the
files: every path they reference exists, every variable they use is documented in
.env.example, and the healthcheck command exists in the installed package.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from monitor.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


def compose() -> dict:
    return YAML(typ="safe").load(COMPOSE.read_text())


def env_example_names() -> set[str]:
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of what compose reads, with .env made from .env.example as a user would."""
    for name in ("docker-compose.yml", "Dockerfile", ".env.example", ".dockerignore"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "config", tmp_path / "config")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    return tmp_path


def docker_compose() -> str:
    exe = shutil.which("docker-compose")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is required in CI (.ci/run installs Debian's package)")
        pytest.skip("docker-compose not installed: apt-get install docker-compose")
    return exe


@pytest.mark.parametrize("profile", [[], ["--profile", "postgres"]])
def test_compose_file_is_valid(project: Path, profile: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONITOR_", "POSTGRES_"))}
    r = subprocess.run(
        [docker_compose(), *profile, "config", "-q"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr


def test_every_referenced_file_exists() -> None:
    doc = compose()
    for name, svc in doc["services"].items():
        build = svc.get("build")
        if build:
            context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
            assert (context / "Dockerfile").is_file(), name
        for env_file in (
            [svc["env_file"]] if isinstance(svc.get("env_file"), str) else svc.get("env_file", [])
        ):
            # .env is the user's own copy; the committed template must exist, .env must be ignored.
            assert env_file == ".env"
            assert (ROOT / ".env.example").is_file()
            assert ".env" in (ROOT / ".gitignore").read_text().split()
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).is_dir(), f"{name}: bind mount {source} is not a directory"
            else:
                assert source in doc["volumes"], f"{name}: undeclared volume {source}"
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        m = re.match(r"COPY (?!--from)(?:--\S+ )*(.+) \S+$", line)
        if m:
            for src in m.group(1).split():
                assert (ROOT / src).exists(), f"Dockerfile copies {src}, which is missing"


def test_every_variable_is_documented_in_env_example() -> None:
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE.read_text()))
    assert used, "the compose file uses no variables?"
    missing = used - env_example_names()
    assert not missing, f"used in docker-compose.yml, not in .env.example: {sorted(missing)}"
    # and the variables the watchlist reads from the environment
    shipped = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / "watchlist.yaml").read_text()))
    assert shipped <= env_example_names()


def test_service_shape() -> None:
    doc = compose()
    services = doc["services"]
    monitors = [n for n, s in services.items() if s.get("image", "").startswith("catalyst-monitor")]
    assert sorted(monitors) == ["monitor", "monitor-2"]
    for name in monitors:
        svc = services[name]
        assert svc["restart"] == "unless-stopped"
        assert svc["env_file"] == ".env"
        assert "./config:/config" in svc["volumes"]  # the directory, not a single file
        assert svc["environment"]["MONITOR_CONFIG"] == "/config/watchlist.yaml"
        assert "MONITOR_DATABASE_URL" in svc["environment"]
    assert services["monitor-2"]["profiles"] == ["postgres"]
    assert services["postgres"]["profiles"] == ["postgres"]
    # Both replicas read the same database URL.
    assert (
        services["monitor"]["environment"]["MONITOR_DATABASE_URL"]
        == services["monitor-2"]["environment"]["MONITOR_DATABASE_URL"]
    )
    # The health port is published on the host's loopback only.
    assert all(p.startswith("127.0.0.1:") for p in services["monitor"]["ports"])


def test_healthcheck_command_exists_in_the_package() -> None:
    doc = compose()
    test = doc["services"]["monitor"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    exe, *args = test[1:]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert exe in scripts
    module, func = scripts[exe].split(":")
    assert callable(getattr(importlib.import_module(module), func))
    parsed = build_parser().parse_args(args)
    assert parsed.fn.__name__ == "cmd_healthcheck"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "HEALTHCHECK" in dockerfile and 'CMD ["monitor", "healthcheck"]' in dockerfile
    # It needs the address: the image and the compose file both set MONITOR_HTTP.
    assert "MONITOR_HTTP=0.0.0.0:8787" in dockerfile
    assert doc["services"]["monitor"]["environment"]["MONITOR_HTTP"] == "0.0.0.0:8787"


def test_dockerfile_is_slim_and_non_root() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    froms = [line for line in lines if line.startswith("FROM ")]
    assert froms and all("-slim" in line for line in froms)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")


def test_systemd_unit_is_hardened() -> None:
    unit = (ROOT / "contrib" / "catalyst-monitor.service").read_text()
    keys = dict(
        (k.strip(), v.strip())
        for k, v in (
            line.split("=", 1)
            for line in unit.splitlines()
            if "=" in line and not line.startswith("#")
        )
    )
    assert keys["ExecStart"].split()[1] == "run"
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "Restart": "on-failure",
        "DynamicUser": "yes",
    }.items():
        assert keys.get(key) == value, key
    assert "StateDirectory" in keys and "CapabilityBoundingSet" in keys
    exe = shutil.which("systemd-analyze")
    if exe:  # where systemd is installed, its own verifier reads the unit too
        r = subprocess.run(
            [exe, "verify", str(ROOT / "contrib" / "catalyst-monitor.service")],
            capture_output=True,
            text=True,
        )
        assert "Unknown key" not in r.stderr and "Unknown section" not in r.stderr, r.stderr
