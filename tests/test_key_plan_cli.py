"""The plan's API-key limit holds for the operator's `key-create` as for `apiKeyCreate`.

Invariants:
- on a plan of N keys, `key-create` issues keys up to N and refuses the next one with one
  `error:` line and exit 2, storing nothing;
- revoked keys do not count, so a freed place can be used again.
"""

from __future__ import annotations

import json

from sqlalchemy import func, select

from core.db import owner_db
from models import ApiToken
from models.tenant import KEY_KINDS
from tests.factories import make_key
from tests.test_cli import run_cli

PLAN = ("plan-set", "--name", "nine", "--api-keys", "9")


def _create(tenant: str) -> tuple[str, ...]:
    return ("key-create", "--tenant", tenant, "--kind", "partner", "--name", "Sync",
            "--scope", "spaces:read")  # fmt: skip


async def _keys(owner_url, tenant_id) -> int:
    async with owner_db(owner_url, tenant_id) as db:
        stmt = select(func.count()).select_from(ApiToken).where(ApiToken.kind.in_(KEY_KINDS))
        return int(await db.scalar(stmt))


async def test_key_create_refuses_the_key_past_the_plan(database_url, owner_url, new_tenant):
    # given a plan of nine keys and eight keys
    tenant = await new_tenant()
    t = str(tenant.tenant_id)
    code, _, err = await run_cli(database_url, *PLAN[:1], "--tenant", t, *PLAN[1:])
    assert code == 0, err
    for _ in range(8):
        await make_key(owner_url, tenant.tenant_id, "partner", ["spaces:read"])

    # when the operator creates the ninth, then a tenth
    code, out, err = await run_cli(database_url, *_create(t))
    assert code == 0, err
    ninth = json.loads(out)
    code, out, err = await run_cli(database_url, *_create(t))

    # then the tenth is refused with one line, and nothing is stored
    assert code == 2, (out, err)
    assert out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "allows 9 api keys" in err
    assert await _keys(owner_url, tenant.tenant_id) == 9

    # a revoked key frees its place
    code, _, err = await run_cli(database_url, "key-revoke", "--tenant", t, "--id", ninth["id"])
    assert code == 0, err
    code, _, err = await run_cli(database_url, *_create(t))
    assert code == 0, err
