"""At the plan's contact limit, a caller who reads e-mail only masked learns nothing about
which addresses exist, and plan details reach only those who may read the plan.

Invariants (audit finding: DUPLICATE_EMAIL for a known address, PLAN_LIMIT for a new one):
- an editor and a `contacts:write` key get the same answer for a known and a new address,
  in `contactCreate` and in a one-row `contactImport`;
- that answer names neither the plan nor its figures; an owner's names both.
"""

from __future__ import annotations

import uuid

import pytest

from tests.factories import mint_key
from tests.test_cli import run_cli

CREATE = """mutation($e: String!) { contactCreate(input: {email: $e}) {
  contact { id } userErrors { code message } } }"""
IMPORT = """mutation($e: String!) { contactImport(input: {contacts: [{email: $e}]}) {
  importedCount userErrors { code message } } }"""


def _answer(result: dict, field: str) -> list[tuple[str, str]]:
    return [(e["code"], e["message"]) for e in result["data"][field]["userErrors"]]


@pytest.mark.parametrize("caller", ["editor", "partner"])
async def test_a_masked_caller_at_the_limit_cannot_tell_known_from_new(
    api, new_tenant, new_member, database_url, caller
):
    # given a tenant at its plan's contact limit, one of whose addresses is known
    tenant = await new_tenant()
    owner = api(tenant.token)
    known = f"known-{uuid.uuid4().hex[:8]}@example.com"
    assert _answer(await owner(CREATE, {"e": known}), "contactCreate") == []
    plan = ["plan-set", "--tenant", str(tenant.tenant_id), "--name", "pilot", "--contacts", "1"]
    code, _out, err = await run_cli(database_url, *plan)
    assert code == 0, err
    if caller == "editor":
        masked = api((await new_member(tenant.tenant_id, "editor")).token)
    else:
        masked = api(await mint_key(owner, "partner", ["contacts:write"]))
    new = f"new-{uuid.uuid4().hex[:8]}@example.com"

    # when the masked caller adds the known and a new address, one by one and by import
    for mutation, field in ((CREATE, "contactCreate"), (IMPORT, "contactImport")):
        for_known = _answer(await masked(mutation, {"e": known}), field)
        for_new = _answer(await masked(mutation, {"e": new}), field)

        # then both answers are the same refusal, with no plan name or figures
        assert for_known == for_new, (field, for_known, for_new)
        assert [c for c, _ in for_new] == ["PLAN_LIMIT"]
        assert "pilot" not in for_new[0][1] and "1" not in for_new[0][1]

    # and the owner, who may read the plan, is told which plan and how many
    (code_, message), *_ = _answer(await owner(CREATE, {"e": new}), "contactCreate")
    assert code_ == "PLAN_LIMIT" and "pilot" in message and "1" in message
