"""The image and the compose file operators run.

Invariants guarded here (no Docker engine in CI: the compose file is checked against the
compose-spec JSON schema, and both files against what the project promises):
- docker-compose.yml is valid compose-spec;
- it runs PostgreSQL, Redis, a one-shot migrate job, the API (healthcheck on /readyz, after
  the migrate job completed) and the worker, in production mode with the secret taken from
  the environment, and installs nothing at start;
- the Dockerfile is multi-stage, installs dependencies at build time and runs as a
  non-root user.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


def _check_jsonschema() -> str:
    found = shutil.which("check-jsonschema") or str(
        Path(sys.executable).parent / "check-jsonschema"
    )
    assert Path(found).exists(), "check-jsonschema is a test dependency"
    return found


def test_compose_file_is_valid_compose_spec() -> None:
    done = subprocess.run(
        [_check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_schema_check_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(
        COMPOSE.read_text().replace("restart: unless-stopped", "restart: [sometimes]", 1)
    )
    done = subprocess.run(
        [_check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(broken)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0


def test_compose_runs_every_part_in_production_mode() -> None:
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    assert set(services) == {"db", "redis", "migrate", "api", "worker"}
    api, worker, migrate = services["api"], services["worker"], services["migrate"]
    assert migrate["command"] == ["microspace", "migrate"] and migrate["restart"] == "no"
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "--no-migrate" in api["command"] and "--no-migrate" in worker["command"]
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    for name in ("migrate", "api", "worker"):
        service = services[name]
        env = service["environment"]
        assert env["MICROSPACE_DEV"] == "false"
        assert env["MICROSPACE_SECRET_KEY"].startswith("${MICROSPACE_SECRET_KEY:?")
        assert env["REDIS_URL"].startswith("redis://redis")
        assert "build" in service and "pip install" not in " ".join(service["command"])
        assert "volumes" not in service  # the image is the code; nothing mounted over it


def test_dockerfile_is_multi_stage_and_unprivileged() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    froms = [line for line in lines if line.startswith("FROM ")]
    assert len(froms) >= 2 and " AS build" in froms[0]
    final = lines[lines.index(froms[-1]) :]
    assert any(line.startswith("COPY --from=build") for line in final)
    assert not any("pip install" in line for line in final)  # installed at build time
    users = [line for line in final if line.startswith("USER ")]
    assert users and users[-1].split()[1] not in ("root", "0")
    assert any(line.startswith("HEALTHCHECK") for line in final)
    assert "MICROSPACE_DEV=false" in "\n".join(final)
