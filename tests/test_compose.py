"""The image and the compose file operators run.

Invariants guarded here (no Docker engine in CI: the compose file is checked against the
compose-spec JSON schema, and both files against what the project promises):
- docker-compose.yml is valid compose-spec;
- it runs PostgreSQL, Redis, a one-shot migrate job, the API (healthcheck on /readyz, after
  the migrate job completed), the worker and the daily retention, in production mode with
  the secret taken from the environment, and installs nothing at start;
- the API and the worker hold only the application role's login (no BYPASSRLS); the
  owner's goes to the jobs that need it (migrate, retention);
- the worker has a liveness check of its own that is not HTTP (it serves none), and it
  fails when the worker's loop stops;
- production needs MICROSPACE_PUBLIC_URL, https: the API and the worker refuse to start
  without it, in one line saying why; development keeps the localhost default;
- every image is pinned by digest, and the Dockerfile installs the hashed lock, which
  covers pyproject's runtime dependencies;
- the Dockerfile is multi-stage, installs dependencies at build time and runs as a
  non-root user.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from core.config import APP_ROLE, DEV_PUBLIC_URL, ConfigError, Settings
from microspace.app import create_app
from microspace.jobs import heartbeat
from microspace.jobs.worker import worker_for
from tests.ports import free_port
from tests.test_cli import run_cli

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
LOCK = ROOT / "requirements.lock"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
PUBLIC = "https://api.test.example"


def _services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


def _url_user(url: str) -> str:
    match = re.match(r"postgres(?:ql)?(?:\+\w+)?://([^:@/]+)", url)
    assert match, url
    return match.group(1)


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
    assert set(services) == {"db", "redis", "migrate", "api", "worker", "retention"}
    api, worker, migrate = services["api"], services["worker"], services["migrate"]
    assert migrate["command"] == ["microspace", "migrate"] and migrate["restart"] == "no"
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "--no-migrate" in api["command"] and "--no-migrate" in worker["command"]
    assert "/readyz" in " ".join(api["healthcheck"]["test"])
    for name in ("migrate", "api", "worker", "retention"):
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


def test_api_and_worker_hold_only_the_application_role_login() -> None:
    services = _services()
    owner = services["db"]["environment"]["POSTGRES_USER"]  # a superuser in that image
    for name in ("api", "worker"):
        env = services[name]["environment"]
        # no owner login: neither its URL nor its password reaches these processes
        assert "DATABASE_URL" not in env, name
        assert not any("POSTGRES_PASSWORD" in str(v) for v in env.values()), name
        assert _url_user(env["APP_DATABASE_URL"]) == APP_ROLE != owner
        assert not any(
            _url_user(str(v)) == owner for v in env.values() if str(v).startswith("postgres")
        )
    # the owner's login only where its work is: migrations (which set the application
    # role's password, the one in the API's URL) and retention
    for name in ("migrate", "retention"):
        env = services[name]["environment"]
        assert _url_user(env["DATABASE_URL"]) == owner and "APP_DATABASE_URL" not in env
        assert (
            env["MICROSPACE_APP_DB_PASSWORD"] in services["api"]["environment"]["APP_DATABASE_URL"]
        )
    assert "microspace retention" in " ".join(services["retention"]["command"])


def test_worker_has_a_liveness_check_that_is_not_http() -> None:
    worker = _services()["worker"]
    check = worker["healthcheck"]
    assert not check.get("disable") and check["test"][0] in ("CMD", "CMD-SHELL")
    probe = " ".join(check["test"][1:])
    assert not re.search(r"https?:|urllib|/readyz|/healthz|curl|wget", probe), probe
    assert probe == "python -m microspace.jobs.heartbeat"


def test_public_url_is_required_of_the_api_and_the_worker() -> None:
    for name in ("api", "worker"):
        value = _services()[name]["environment"]["MICROSPACE_PUBLIC_URL"]
        # from the operator's environment, and compose stops when it is missing
        assert value.startswith("${MICROSPACE_PUBLIC_URL:?"), (name, value)


def test_every_image_is_pinned_by_digest() -> None:
    for name, service in _services().items():
        if "build" in service:
            continue  # built here from the Dockerfile, whose bases are checked below
        assert DIGEST.search(service["image"]), (name, service["image"])
    froms = [
        line.split()[1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("FROM ")
    ]
    assert froms and all(DIGEST.search(image) for image in froms), froms


def _locked() -> dict[str, tuple[str, int]]:
    """Each locked package: its version and how many hashes it carries."""
    locked: dict[str, tuple[str, int]] = {}
    entries = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text())
    for entry in entries:
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", entry)
        if match:
            name, version = canonicalize_name(match.group(1)), match.group(2)
            locked[name] = (version, entry.count("--hash=sha256:"))
    return locked


def _needed(requirement: Requirement) -> list[Requirement]:
    """A runtime requirement and what its extras add on this platform (`uvicorn[standard]`
    brings uvloop and httptools), as the installed distribution declares them."""
    needed = [requirement]
    for extra in requirement.extras:
        for line in importlib.metadata.requires(requirement.name) or []:
            dep = Requirement(line)
            if dep.marker is not None and dep.marker.evaluate({"extra": extra}):
                needed.append(dep)
    return needed


def test_lock_covers_the_runtime_dependencies_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    locked = _locked()
    assert all(hashes for _version, hashes in locked.values()), "every entry hashed"
    required = [
        dep
        for line in project["project"]["dependencies"] + project["build-system"]["requires"]
        for dep in _needed(Requirement(line))
    ]
    for dep in required:
        name = canonicalize_name(dep.name)
        regenerate = "regenerate requirements.lock as docs/deploy.md says"
        assert name in locked, f"{dep} is not in requirements.lock: {regenerate}"
        assert dep.specifier.contains(locked[name][0], prereleases=True), (
            f"{dep}: requirements.lock has {locked[name][0]}; {regenerate}"
        )
    # and the image installs the lock, hashes required, then the project without deps
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes -r requirements.lock" in dockerfile
    assert re.search(r"pip install --no-deps\b.* \.", dockerfile)


def test_image_installs_every_package() -> None:
    # the image installs the project (not editable): a package missing from pyproject's
    # list is missing from the image, and the API fails there on its first import
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    tops = {name.split(".")[0] for name in listed}
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in tops
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found - listed == set()


def test_lock_check_can_fail(tmp_path: Path) -> None:
    # a requirement the lock lacks, or a version outside the range, is seen as such
    locked = _locked()
    assert "left-pad" not in locked
    assert not Requirement("starlette<0.1").specifier.contains(locked["starlette"][0])


async def test_worker_liveness_check_follows_its_loop(settings: Settings, tmp_path: Path):
    beat_file = tmp_path / "heartbeat"

    def probe(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "microspace.jobs.heartbeat", "--file", str(beat_file), *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )

    # before the worker ran: not live, and the one line says why
    before = await asyncio.to_thread(probe)
    assert before.returncode == 1 and "no beat yet" in before.stderr
    # while its loop runs: live
    worker, engine = worker_for(settings)
    worker.heartbeat = beat_file
    stop = asyncio.Event()
    loop = asyncio.create_task(worker.run_forever(0.2, stop))
    try:
        for _ in range(100):
            if beat_file.exists():
                break
            await asyncio.sleep(0.1)
        assert (await asyncio.to_thread(probe)).returncode == 0
    finally:
        stop.set()
        await loop
        await engine.dispose()
    # once it stopped beating for longer than allowed: not live
    old = time.time() - heartbeat.max_age(settings) - 5
    os.utime(beat_file, (old, old))
    stale = await asyncio.to_thread(probe)
    assert stale.returncode == 1 and "last beat" in stale.stderr, stale.stderr
    assert len(stale.stderr.strip().splitlines()) == 1


def test_public_url_rule() -> None:
    production = Settings(dev_mode=False)
    with pytest.raises(ConfigError, match="MICROSPACE_PUBLIC_URL must be set in production"):
        production.with_public_url()
    for bad in ("http://api.example", "api.example", "https://", "https://[::1", "https://a/?q"):
        with pytest.raises(ConfigError, match="must be an https URL"):
            replace(production, public_url=bad).with_public_url()
    assert replace(production, public_url=PUBLIC).with_public_url().public_url == PUBLIC
    # development keeps the localhost default, or takes what it is given
    assert Settings(dev_mode=True).with_public_url().public_url == DEV_PUBLIC_URL
    given = Settings(dev_mode=True, public_url="http://127.0.0.1:9000")
    assert given.with_public_url().public_url == "http://127.0.0.1:9000"


async def test_development_app_links_to_localhost(settings: Settings) -> None:
    app = create_app(replace(settings, public_url=""))
    try:
        assert app.state.microspace.settings.public_url == DEV_PUBLIC_URL
    finally:
        await app.state.microspace.engine.dispose()


@pytest.mark.parametrize(
    ("public_url", "why"),
    [
        ("", "error: MICROSPACE_PUBLIC_URL must be set in production"),
        ("http://api.example", "error: MICROSPACE_PUBLIC_URL must be an https URL"),
    ],
)
@pytest.mark.parametrize("command", [["serve", "--no-migrate"], ["worker", "--no-migrate"]])
async def test_production_refuses_to_start_without_an_https_public_url(
    database_url, command: list[str], public_url: str, why: str
) -> None:
    env = {"MICROSPACE_DEV": "false", "MICROSPACE_PUBLIC_URL": public_url}
    code, out, err = await run_cli(database_url, *command, env=env)
    assert code == 2, (out, err)
    assert err.startswith(why) and len(err.strip().splitlines()) == 1, err


def test_asgi_factory_refuses_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MICROSPACE_")}
    env.update(MICROSPACE_DEV="false", MICROSPACE_SECRET_KEY="k" * 32)
    done = subprocess.run(
        [sys.executable, "-c", "from microspace.asgi import create; create()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: MICROSPACE_PUBLIC_URL must be set in production: the https URL clients reach "
        "the API at, used in invitation and unsubscribe links"
    )


def _app_role_url(database_url) -> str:
    app = database_url.set(username=APP_ROLE, password="microspace_app")
    return str(app.render_as_string(hide_password=False))


async def test_api_and_worker_run_on_the_application_role_login_alone(database_url, new_tenant):
    # as compose runs them: production, no owner URL at all, only APP_DATABASE_URL
    tenant = await new_tenant()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MICROSPACE_", "REDIS_"))}
    env.pop("DATABASE_URL", None)
    env.update(
        APP_DATABASE_URL=_app_role_url(database_url),
        MICROSPACE_DEV="false",
        MICROSPACE_SECRET_KEY="k" * 32,
        MICROSPACE_PUBLIC_URL=PUBLIC,
        MICROSPACE_LOG_LEVEL="WARNING",
    )
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "server.py"),
        "serve",
        "--no-migrate",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(300):
                assert proc.returncode is None, await proc.stdout.read() if proc.stdout else b""
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            # the test database's tenant: no embedded server was started in its place
            answer = await client.post(
                "/graphql",
                json={"query": "{ viewer { kind } }"},
                headers={"Authorization": f"Bearer {tenant.token}"},
            )
            assert answer.json() == {"data": {"viewer": {"kind": "member"}}}, answer.text
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=30)
    code, out, err = await run_cli(
        database_url,
        "worker",
        "--once",
        "--no-migrate",
        env={"DATABASE_URL": "", "APP_DATABASE_URL": _app_role_url(database_url)},
    )
    assert code == 0 and '"sent"' in out, err
