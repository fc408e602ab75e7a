"""``docker-compose.yml`` is a set Compose accepts, wired as docs/operating.md describes.

No Docker engine runs on the test machines: Compose's own ``config`` validates and resolves
the file without one. Skipped only where neither ``docker compose`` nor ``docker-compose`` is
installed (``scripts/install-test-deps`` installs Debian's ``docker-compose``).
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
import yaml

from tests.cli import TIMEOUT_SECONDS, clean_environment
from tests.cluster import REPO

JOBTOWER_SERVICES = ("api", "worker", "dispatcher")


def compose_command() -> list[str] | None:
    """The Compose on this machine: the Docker CLI's plugin, else the standalone command."""
    if shutil.which("docker"):
        plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=TIMEOUT_SECONDS)
        if plugin.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def compose_config(**environment: str) -> subprocess.CompletedProcess[str]:
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    env = {key: value for key, value in clean_environment().items() if key != "JOBTOWER_ID_SECRET"}
    return subprocess.run(
        [*command, "--project-directory", str(REPO), "-f", str(REPO / "docker-compose.yml"), "config"],
        cwd=REPO,
        env=env | environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    """The services as Compose resolves them, with the id secret an operator sets."""
    result = compose_config(JOBTOWER_ID_SECRET="a-secret-of-the-deployment")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def test_the_compose_file_is_valid_and_starts_the_processes_after_the_migration(services: dict[str, Any]):

    assert set(services) == {"postgres", "redis", "migrate", *JOBTOWER_SERVICES}
    assert services["migrate"]["command"] == ["jobtower", "migrate"]
    for name in JOBTOWER_SERVICES:
        service = services[name]
        assert service["command"][:2] == ["jobtower", name]
        assert service["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }, name
        assert "healthcheck" in service, name
        # Every process of the set reads the same database, Redis and id secret.
        assert {key: service["environment"][key] for key in ("DATABASE_URL", "REDIS_URL", "JOBTOWER_ID_SECRET")} == {
            "DATABASE_URL": "postgres://jobtower:jobtower@postgres:5432/jobtower",
            "REDIS_URL": "redis://redis:6379/0",
            "JOBTOWER_ID_SECRET": "a-secret-of-the-deployment",
        }, name


def test_the_compose_file_runs_two_workers_and_a_standby_dispatcher(services: dict[str, Any]):

    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["dispatcher"]["deploy"]["replicas"] == 2
    # A worker given SIGTERM drains its chunks; Compose's default 10 s would kill it midway.
    assert "stop_grace_period" in services["worker"]


def test_the_compose_file_refuses_to_start_without_an_id_secret():
    result = compose_config()

    assert result.returncode != 0
    assert "set JOBTOWER_ID_SECRET" in result.stderr
