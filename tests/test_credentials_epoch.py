"""A remembered member's or partner's principal checked by its tenant's credentials epoch
(migration 0061, microspace/lane/lane.py `_known_sql`, `_writer_json`).

Invariants:
- every change of a tenant's credentials (a key revoked, rotated, its expiry, scopes or
  origins changed, deleted; a member's role changed, a member removed) moves that tenant's
  epoch, in the change's own transaction, as the application role makes it; another
  tenant's does not move;
- the lane's checks accept exactly the epoch, policy version and origin they are given, and
  only while the secret is valid: any other, and nothing is read or written;
- through HTTP: a key revoked through the API is refused on its next request, and a secret
  that runs out (an expiry, the end of a rotation's overlap) is refused from that moment,
  though nothing was written; the tenant's other remembered principals are checked again
  the whole way once, then served by the lane.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.auth import hash_token, new_token
from core.config import APP_ROLE
from tests.conftest import error_codes
from tests.factories import make_space, mint_key

SPACE = """query Q($id: ID!) { space(id: $id) { id title
    blocks(first: 20) { edges { node { id kind position body } } } } }"""
UPDATE = """mutation U($id: ID!, $body: JSON!) { blockUpdate(input: {id: $id, body: $body}) {
    block { id body } userErrors { code message } } }"""
REVOKE = "mutation($id: ID!) { apiKeyRevoke(id: $id) { apiKey { id } userErrors { code } } }"
ROTATE = """mutation($id: ID!, $s: Int!) { apiKeyRotate(input: {id: $id, overlapSeconds: $s}) {
  secret userErrors { code field } } }"""
KEYS = "{ apiKeys { edges { node { id } } } }"
SCOPES = ["spaces:read", "spaces:write"]


def lane(app: Any) -> Any:
    return app.state.fast_lane


# ------------------------------------------------------------------------- the epoch moves


async def _epoch(conn: AsyncConnection, tenant: uuid.UUID) -> int:
    await conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant)})
    epoch: int = await conn.scalar(
        text("SELECT credentials_epoch FROM tenants WHERE id = :t"), {"t": tenant}
    )
    return epoch


CHANGES = {
    "key revoked": "UPDATE api_tokens SET revoked_at = now() WHERE id = :key",
    "key rotated": (
        "UPDATE api_tokens SET previous_token_hash = token_hash, token_hash = :fresh, "
        "previous_expires_at = now() + interval '1 hour', rotated_at = now() WHERE id = :key"
    ),
    "key's expiry moved": "UPDATE api_tokens SET expires_at = now() + interval '1 day' WHERE id = :key",
    "key's scopes changed": "UPDATE api_tokens SET scopes = '{spaces:read}' WHERE id = :key",
    "key's origins changed": (
        "UPDATE api_tokens SET allowed_origins = '{https://x.example}' WHERE id = :key"
    ),
    "key deleted": "DELETE FROM api_tokens WHERE id = :key",
    "member's role changed": "UPDATE members SET role = 'viewer' WHERE id = :member",
    "member removed": "DELETE FROM members WHERE id = :member",
}
# what no principal is built from: the epoch stays (nothing to check again)
KEPT = {
    "member's name changed": "UPDATE members SET full_name = 'Renamed' WHERE id = :member",
    "another key issued": (
        "INSERT INTO api_tokens (tenant_id, id, kind, token_hash, member_id) "
        "VALUES (:tenant, gen_random_uuid(), 'member', :fresh, :member)"
    ),
}


@pytest.fixture
async def as_app(owner_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """The application role's transaction, rolled back afterwards."""
    async with owner_engine.connect() as conn:
        await conn.begin()
        await conn.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        yield conn
        await conn.rollback()


@pytest.mark.parametrize("change", [*CHANGES, *KEPT])
async def test_every_change_of_a_tenants_credentials_moves_its_epoch(
    as_app: AsyncConnection, new_tenant: Callable[..., Awaitable[Any]], change: str
) -> None:
    tenant, other = await new_tenant("Epoch"), await new_tenant("EpochOther")
    other_before = await _epoch(as_app, other.tenant_id)
    # as the whole way makes it: the application role, scoped to the tenant
    before = await _epoch(as_app, tenant.tenant_id)
    key = await as_app.scalar(
        text("SELECT id FROM api_tokens WHERE member_id = :m"), {"m": tenant.member_id}
    )
    done = await as_app.execute(
        text(CHANGES.get(change) or KEPT[change]),
        {
            "key": key,
            "member": tenant.member_id,
            "tenant": tenant.tenant_id,
            "fresh": hash_token(new_token("member")[0]),
        },
    )
    assert done.rowcount == 1
    after = await _epoch(as_app, tenant.tenant_id)
    if change in CHANGES:
        assert after > before
    else:
        assert after == before
    assert await _epoch(as_app, other.tenant_id) == other_before


@pytest.mark.parametrize("table", ["api_tokens", "members"])
async def test_a_truncate_moves_every_tenants_epoch(
    owner_engine: AsyncEngine, new_tenant: Callable[..., Awaitable[Any]], table: str
) -> None:
    """A TRUNCATE fires no row trigger (migration 0062): its statement trigger moves each
    tenant's epoch, and leaves the transaction's tenant setting as it found it."""
    tenants = [(await new_tenant(f"Truncated{n}")).tenant_id for n in range(2)]
    async with owner_engine.connect() as conn:
        await conn.begin()
        epochs = "SELECT id, credentials_epoch FROM tenants WHERE id = ANY(:t)"
        before = dict((await conn.execute(text(epochs), {"t": tenants})).all())
        set_before = str(uuid.uuid4())
        await conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": set_before})
        await conn.execute(text(f"TRUNCATE {table} CASCADE"))
        after = dict((await conn.execute(text(epochs), {"t": tenants})).all())
        kept = await conn.scalar(text("SELECT current_setting('app.tenant_id')"))
        await conn.rollback()
    assert all(after[t] > before[t] for t in tenants), (before, after)
    assert kept == set_before


# ------------------------------------------------------------------ the checks themselves


async def _known(conn: AsyncConnection, tenant: uuid.UUID, **given: Any) -> bool:
    row = await conn.scalar(
        text("SELECT ok FROM app_lane_known(:t, :epoch, :until, :policy, :origin)"),
        {"t": tenant, **given},
    )
    return row is True


async def _check_known(conn: AsyncConnection, tenant: uuid.UUID, **given: Any) -> bool:
    until = given["until"]
    who = {**given, "until": None if until is None else until.timestamp()}
    await conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant)})
    same = await conn.scalar(
        text("SELECT same FROM app_lane_check_known(:t, CAST(:who AS jsonb))"),
        {"t": tenant, "who": json.dumps(who)},
    )
    assert same is not None  # the tenant's row: true or false, never nothing
    return bool(same)


@pytest.mark.parametrize("check", [_known, _check_known], ids=["read", "write"])
async def test_the_checks_accept_only_the_epoch_policy_and_origin_they_were_given(
    as_app: AsyncConnection,
    new_tenant: Callable[..., Awaitable[Any]],
    owner_engine: AsyncEngine,
    check: Callable[..., Awaitable[bool]],
) -> None:
    tenant, other = await new_tenant("Known"), await new_tenant("KnownOther")
    async with owner_engine.begin() as conn:
        await conn.execute(
            text("UPDATE tenants SET cors_origins = '{https://app.example}' WHERE id = :t"),
            {"t": tenant.tenant_id},
        )
    epoch = await _epoch(as_app, tenant.tenant_id)
    policy = await as_app.scalar(
        text("SELECT policy_version FROM tenants WHERE id = :t"), {"t": tenant.tenant_id}
    )
    now = datetime.now(UTC)
    given = {"epoch": epoch, "policy": policy, "until": None, "origin": None}
    accepted = [
        given,
        {**given, "until": now + timedelta(minutes=5)},
        {**given, "origin": "https://app.example"},
    ]
    refused = [
        {**given, "epoch": epoch - 1},
        {**given, "epoch": epoch + 1},
        {**given, "policy": policy + 1},
        {**given, "until": now - timedelta(seconds=1)},
        {**given, "origin": "https://elsewhere.example"},
    ]
    for each in accepted:
        assert await check(as_app, tenant.tenant_id, **each), each
    for each in refused:
        assert not await check(as_app, tenant.tenant_id, **each), each
    # another tenant's row with this tenant's epoch: each count starts at its own value
    other_epoch = await _epoch(as_app, other.tenant_id)
    assert other_epoch != epoch
    assert not await check(as_app, other.tenant_id, **given)


# ------------------------------------------------------------------------ through HTTP


async def _served_by_lane(app: Any, api: Any, token: str, space: str) -> bool:
    answered = lane(app).answered
    response = await api(token).post(SPACE, {"id": space})
    assert response.status_code == 200 and "errors" not in response.json(), response.text
    return bool(lane(app).answered == answered + 1)


async def test_a_key_revoked_through_the_api_is_refused_on_its_next_request(
    app: Any, api: Any, new_tenant: Callable[..., Awaitable[Any]], owner_url: Any
) -> None:
    owner = await new_tenant("RevokedByApi")
    space, blocks = await make_space(owner_url, owner.tenant_id, blocks=2)
    secret = await mint_key(api(owner.token), "partner", SCOPES)
    for token in (secret, owner.token):
        await _served_by_lane(app, api, token, space)
        assert await _served_by_lane(app, api, token, space)
    (edge,) = (await api(owner.token)(KEYS))["data"]["apiKeys"]["edges"]
    revoked = await api(owner.token)(REVOKE, {"id": edge["node"]["id"]})
    assert revoked["data"]["apiKeyRevoke"]["userErrors"] == []
    answered = lane(app).answered
    refused = await api(secret).post(SPACE, {"id": space})
    assert lane(app).answered == answered
    assert error_codes(refused.json()) == ["UNAUTHENTICATED"]
    written = await api(secret).post(UPDATE, {"id": blocks[0], "body": {"text": "x"}})
    assert error_codes(written.json()) == ["UNAUTHENTICATED"]
    # the owner's own principal: checked the whole way once at the new epoch, then the lane's
    assert not await _served_by_lane(app, api, owner.token, space)
    assert await _served_by_lane(app, api, owner.token, space)


async def _rotated_secret(api: Any, owner: Any, overlap: int) -> str:
    secret = await mint_key(api(owner.token), "partner", SCOPES)
    (edge,) = (await api(owner.token)(KEYS))["data"]["apiKeys"]["edges"]
    rotated = await api(owner.token)(ROTATE, {"id": edge["node"]["id"], "s": overlap})
    assert rotated["data"]["apiKeyRotate"]["userErrors"] == []
    return secret  # the previous secret, valid until the overlap ends


async def _expiring_secret(api: Any, owner: Any, seconds: int) -> str:
    expires = (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()
    return await mint_key(api(owner.token), "partner", SCOPES, expiresAt=expires)


@pytest.mark.parametrize(
    ("make", "reason"), [(_expiring_secret, "KEY_EXPIRED"), (_rotated_secret, "KEY_ROTATED")]
)
async def test_a_secret_that_runs_out_is_refused_from_that_moment_without_any_write(
    app: Any,
    api: Any,
    new_tenant: Callable[..., Awaitable[Any]],
    owner_url: Any,
    make: Callable[[Any, Any, int], Awaitable[str]],
    reason: str,
) -> None:
    """The remembered principal carries when its secret stops being valid; the lane's
    statement compares it with the database's clock: the epoch does not move by itself."""
    owner = await new_tenant("RunsOut")
    space, blocks = await make_space(owner_url, owner.tenant_id, blocks=1)
    seconds = 4
    secret = await make(api, owner, seconds)
    ends = time.monotonic() + seconds
    await _served_by_lane(app, api, secret, space)
    assert await _served_by_lane(app, api, secret, space)
    remembered = lane(app).pipeline.known.get(hash_token(secret))
    assert remembered is not None and remembered.valid_until is not None
    await asyncio.sleep(max(0.0, ends - time.monotonic()) + 0.5)
    answered = lane(app).answered
    read = await api(secret).post(SPACE, {"id": space})
    write = await api(secret).post(UPDATE, {"id": blocks[0], "body": {"text": "late"}})
    assert lane(app).answered == answered
    for response in (read, write):
        errors = response.json()["errors"]
        assert [e["extensions"]["code"] for e in errors] == ["UNAUTHENTICATED"]
        assert errors[0]["extensions"].get("reason") == reason, errors
