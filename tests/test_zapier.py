"""The Zapier integration (integrations/zapier) with zapier-platform-core's app tester,
against this API served on a free port and a worker running beside it (webhooks and
personalisation jobs).

Invariants (the Node tests in integrations/zapier/test say each):
- the app definition validates against zapier-platform-schema, offline;
- authentication takes a partner key, tested against `viewer`, labelled with the tenant;
- every trigger subscribes (a webhook subscription appears), receives a real delivery whose
  Standard Webhooks signature it verifies (a forged one halts), unsubscribes (the
  subscription is gone), and has a polling sample;
- after a secret rotation the secret the Zap kept at subscription verifies deliveries during
  the overlap, and none after it (the new secret does);
- every action and search works, errors carry the API's code; a key that reads e-mail
  masked gets masked payloads and samples, and no search by e-mail (one refusal for known
  and unknown addresses alike).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from microspace.jobs.personalisation import run_personalisations
from microspace.jobs.webhooks import Webhooks
from tests.factories import mint_key
from tests.ports import serve
from tests.test_webhooks import hooks

HERE = Path(__file__).parents[1] / "integrations" / "zapier"
FULL = ["contacts:write", "contacts:read_pii", "spaces:write", "webhooks:manage", "dsr"]
MASKED = ["contacts:write", "spaces:read", "webhooks:manage"]


@pytest.fixture(scope="module")
def zapier() -> Path:
    """The integration with its npm packages (installed with `npm ci` when missing)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("Node.js and npm are needed for the Zapier tests: apt-get install nodejs npm")
    if not (HERE / "node_modules" / "zapier-platform-core").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    return HERE


async def _work(worker: Webhooks, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await worker.run_once()
        await run_personalisations(worker.sessionmaker)
        try:
            await asyncio.wait_for(stop.wait(), timeout=0.1)
        except TimeoutError:
            pass


async def test_the_zapier_integration_against_the_live_api(zapier, app, settings, api, new_tenant):
    tenant = await new_tenant("Zapier")
    owner = api(tenant.token)
    full = await mint_key(owner, "partner", FULL)
    masked = await mint_key(owner, "partner", MASKED)
    name = (await owner("{ viewer { tenantName } }"))["data"]["viewer"]["tenantName"]
    running, server, port = await serve(app)
    stop = asyncio.Event()
    worker = asyncio.create_task(_work(hooks(app, settings), stop))
    env = {
        **os.environ,
        "MICROSPACE_URL": f"http://127.0.0.1:{port}/graphql",
        "FULL_KEY": full,
        "MASKED_KEY": masked,
        "OWNER_TOKEN": tenant.token,
        "TENANT_NAME": name,
        "NODE_ENV": "test",  # zapier-platform-core: no memory log per call
    }
    try:
        proc = await asyncio.create_subprocess_exec(
            "node",
            "--test",
            "--test-concurrency=1",
            "test/",
            cwd=zapier,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=600)
    finally:
        stop.set()
        await worker
        running.should_exit = True
        await server
    report = out.decode()
    assert proc.returncode == 0, report[-8000:]
    assert "# fail 0" in report and "# pass 15" in report, report[-3000:]
