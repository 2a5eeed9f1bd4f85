"""One token match (migration 0016 `app_token_match`): every SQL function that looks a
token up by its hash gives the same verdict on every credential state.

Invariants:
- each entry point accepts a secret for tenant A exactly when the match does: valid, valid
  until later, the new secret of a rotated key, the previous one inside its overlap; never
  an expired, revoked or rotated-out one (nor one inside its overlap on a revoked or expired
  key), an unknown one, or another tenant's;
- `app_token_refusal` names the reason for exactly the secrets the match refuses;
- every function taking a token hash is in the matrix, and calls the match;
- the matrix notices when one function's match is changed (negative controls: each function
  in turn given a private match that ignores the overlap's end, or revocation);
- the match stays inlined into `app_token_check`, and both into `app_lane_check`, which the fast
  lane's statements call.

Rows are made as the owner; entry points run as the application role (`SET LOCAL ROLE`),
each in a savepoint of its own so no setting leaks from one into the next.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from core.config import APP_ROLE

ORIGINS = {"A": ["https://a.example"], "B": ["https://b.example"]}
SCOPES = ["content:read"]
HOUR, SECOND = timedelta(hours=1), timedelta(seconds=1)


@dataclass(frozen=True)
class State:
    """A credential state: the key's row (in tenant A unless `tenant` says B) and whether
    the secret presented must be accepted for tenant A."""

    name: str
    accepted: bool
    refusal: str | None = None  # what app_token_refusal names
    tenant: str = "A"
    presented: str = "current"  # current, previous or unknown secret
    expires: timedelta | None = None  # from now
    revoked: bool = False
    overlap: timedelta | None = None  # the previous secret's end, from now (a rotation)


STATES = [
    State("valid", True),
    State("valid_until_later", True, expires=HOUR),
    State("expired", False, "expired", expires=-SECOND),
    State("revoked", False, "revoked", revoked=True),
    State("rotated_new_secret", True, overlap=HOUR),
    State("rotated_inside_overlap", True, presented="previous", overlap=HOUR),
    State("rotated_after_overlap", False, "rotated", presented="previous", overlap=-SECOND),
    State(
        "rotated_inside_overlap_revoked",
        False,
        "revoked",
        presented="previous",
        overlap=HOUR,
        revoked=True,
    ),
    State(
        "rotated_inside_overlap_expired",
        False,
        "expired",
        presented="previous",
        overlap=HOUR,
        expires=-SECOND,
    ),
    # a live credential, of tenant B: never accepted for A, and not refused (it is B's)
    State("wrong_tenant", False, tenant="B"),
    State("unknown", False, presented="unknown"),
]


@dataclass(frozen=True)
class Key:
    state: State
    token_id: uuid.UUID
    presented: bytes


@dataclass(frozen=True)
class World:
    tenants: dict[str, uuid.UUID]
    policy_version: dict[str, int]
    keys: dict[str, Key]


@pytest.fixture(scope="module")
async def world(database_url: URL) -> AsyncIterator[World]:
    engine = create_async_engine(database_url)
    tenants = {"A": uuid.uuid4(), "B": uuid.uuid4()}
    keys: dict[str, Key] = {}
    async with engine.begin() as conn:
        for label, tenant in tenants.items():
            await conn.execute(
                text(
                    "INSERT INTO tenants (id, name, cors_origins, policy_version) "
                    "VALUES (:id, :name, :origins, :version)"
                ),
                {"id": tenant, "name": f"Match {label}", "origins": ORIGINS[label], "version": 7},
            )
        for state in STATES:
            key = await _make_key(conn, tenants[state.tenant], state)
            keys[state.name] = key
    try:
        yield World(tenants, {"A": 7, "B": 7}, keys)
    finally:
        async with engine.begin() as conn:
            for tenant in tenants.values():
                await conn.execute(text("DELETE FROM tenants WHERE id = :t"), {"t": tenant})
        await engine.dispose()


async def _make_key(conn: AsyncConnection, tenant: uuid.UUID, state: State) -> Key:
    current, previous = os.urandom(32), os.urandom(32)
    token_id = uuid.uuid4()
    # the owner is held to row-level security unless superuser: write as the tenant
    await conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant)})
    await conn.execute(
        text(
            "INSERT INTO api_tokens (tenant_id, id, kind, token_hash, scopes, expires_at, "
            "revoked_at, previous_token_hash, previous_expires_at, rotated_at) VALUES "
            "(:tenant, :id, 'partner', :current, :scopes, now() + :expires, "
            "CASE WHEN :revoked THEN now() END, :previous, now() + :overlap, "
            "CASE WHEN :rotated THEN now() END)"
        ),
        {
            "tenant": tenant,
            "id": token_id,
            "current": current,
            "scopes": SCOPES,
            "expires": state.expires,
            "revoked": state.revoked,
            "previous": previous if state.overlap else None,
            "overlap": state.overlap,
            "rotated": state.overlap is not None,
        },
    )
    presented = {"current": current, "previous": previous, "unknown": os.urandom(32)}
    return Key(state, token_id, presented[state.presented])


# ---------------------------------------------------------------------------- entry points
# Each answers: is the key's secret accepted for tenant A?

Verdict = Callable[[AsyncConnection, World, Key], Awaitable[Any]]


async def _tenants(conn: AsyncConnection, sql: str, params: dict[str, Any]) -> list[Any]:
    return [row.tenant_id for row in (await conn.execute(text(sql), params)).all()]


async def _authenticate(conn: AsyncConnection, world: World, key: Key) -> bool | None:
    """Tenant A's principal, with A's credentials epoch and a secret still valid (migration
    0061; None when those are wrong for a secret it accepts)."""
    rows = (
        await conn.execute(
            text("SELECT tenant_id, epoch, valid_until > now() AS valid FROM app_authenticate(:h)"),
            {"h": key.presented},
        )
    ).all()
    if [row.tenant_id for row in rows] != [world.tenants["A"]]:
        return False
    await conn.execute(
        text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(world.tenants["A"])}
    )
    epoch = await conn.scalar(
        text("SELECT credentials_epoch FROM tenants WHERE id = :t"), {"t": world.tenants["A"]}
    )
    (row,) = rows
    return True if row.epoch == epoch and row.valid is not False else None


async def _token_check(conn: AsyncConnection, world: World, key: Key) -> bool:
    # its callers set the tenant first (migration 0013)
    await conn.execute(
        text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(world.tenants["A"])}
    )
    found = await _tenants(conn, "SELECT tenant_id FROM app_token_check(:h)", {"h": key.presented})
    return found == [world.tenants["A"]]


async def _lane_scope(conn: AsyncConnection, world: World, key: Key) -> bool | None:
    """Without an origin, and from an origin tenant A allows (migration 0051): the same
    verdict (None when they differ); from an origin it does not allow, never a row."""
    verdicts = []
    for origin in (None, *ORIGINS["A"], "https://elsewhere.example"):
        found = await _tenants(
            conn,
            "SELECT tenant_id FROM app_lane_scope(:a, :h, :o)",
            {"a": world.tenants["A"], "h": key.presented, "o": origin},
        )
        verdicts.append(found == [world.tenants["A"]])
    plain, allowed, refused = verdicts
    return plain if plain == allowed and not refused else None


def _who(world: World, key: Key) -> str:
    """The principal the lane would remember for this key (microspace/lane/lane.py
    `_principal_json`)."""
    return json.dumps([str(key.token_id), "partner", None, None, world.policy_version["A"], SCOPES])


def _lane_check(function: str) -> Verdict:
    """The lane's check (migration 0021), and its form for a principal without an origin
    (migration 0057)."""

    async def verdict(conn: AsyncConnection, world: World, key: Key) -> bool:
        # its callers set the tenant first (migration 0021)
        await conn.execute(
            text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(world.tenants["A"])}
        )
        same = await conn.scalar(
            text(f"SELECT same FROM {function}(:a, CAST(:who AS jsonb), :h)"),
            {"a": world.tenants["A"], "who": _who(world, key), "h": key.presented},
        )
        return bool(same)

    return verdict


def _lane_write(function: str, arguments: str) -> Verdict:
    """A lane write's verdict (migrations 0021, 0024, 0026, 0027, 0049): its call with the principal, on an
    unknown id (nothing is written either way)."""

    async def verdict(conn: AsyncConnection, world: World, key: Key) -> bool:
        same = await conn.scalar(
            text(f"SELECT same FROM {function}(:a, :id, {arguments}, CAST(:who AS jsonb), :h)"),
            {
                "a": world.tenants["A"],
                "id": uuid.uuid4(),
                "who": _who(world, key),
                "h": key.presented,
            },
        )
        return bool(same)

    return verdict


async def _lane_audit(conn: AsyncConnection, world: World, key: Key) -> bool:
    # the audited lane read's second statement (migration 0042): appends only for a match
    appended = await conn.scalar(
        text(
            "SELECT app_lane_audit(:a, CAST(:who AS jsonb), 'partner', :p, 'r', "
            "CAST('[]' AS jsonb), :h)"
        ),
        {"a": world.tenants["A"], "who": _who(world, key), "p": key.token_id, "h": key.presented},
    )
    return bool(appended)


async def _cors_origins(conn: AsyncConnection, world: World, key: Key) -> bool:
    # a partner key's origins are its tenant's, and each tenant's are its own
    origins = await conn.scalar(text("SELECT app_cors_origins(:h)"), {"h": key.presented})
    return bool(origins == ORIGINS["A"])


ENTRY_POINTS: dict[str, Verdict] = {
    "app_authenticate": _authenticate,
    "app_token_check": _token_check,
    "app_lane_scope": _lane_scope,
    "app_lane_check": _lane_check("app_lane_check"),
    "app_lane_check_plain": _lane_check("app_lane_check_plain"),
    "app_block_update": _lane_write(
        "app_block_update",
        "CAST('{}' AS text[]), CAST('{}' AS text[]), CAST('{}' AS jsonb)",
    ),
    "app_space_update": _lane_write("app_space_update", "NULL, NULL, CAST('{}' AS jsonb)"),
    "app_block_move": _lane_write("app_block_move", "0, CAST('{}' AS jsonb)"),
    "app_block_add": _lane_write(
        "app_block_add",
        "gen_random_uuid(), 'heading', CAST('{}' AS jsonb), NULL, CAST('{}' AS jsonb)",
    ),
    # an unknown contact: nothing is written either way
    "app_consent_grant": _lane_write(
        "app_consent_grant",
        "gen_random_uuid(), 'analytics', 'api', 'v1', NULL, 'r', CAST('{}' AS jsonb)",
    ),
    "app_cors_origins": _cors_origins,
    "app_lane_audit": _lane_audit,
}


async def _refusal(conn: AsyncConnection, world: World, key: Key) -> str | None:
    reason: str | None = await conn.scalar(
        text("SELECT app_token_refusal(:h)"), {"h": key.presented}
    )
    return reason


async def _as_app(conn: AsyncConnection, verdict: Verdict, world: World, key: Key) -> Any:
    """One verdict as the application role, in a savepoint rolled back afterwards."""
    savepoint = await conn.begin_nested()
    try:
        await conn.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        return await verdict(conn, world, key)
    finally:
        await savepoint.rollback()


@pytest.fixture
async def owner_conn(database_url: URL) -> AsyncIterator[AsyncConnection]:
    """An owner's transaction, rolled back: a negative control's changes never commit."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            await conn.begin()
            yield conn
            await conn.rollback()
    finally:
        await engine.dispose()


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize("state", STATES, ids=lambda s: s.name)
async def test_every_entry_point_gives_the_matchs_verdict(
    owner_conn: AsyncConnection, world: World, state: State, entry: str
) -> None:
    accepted = await _as_app(owner_conn, ENTRY_POINTS[entry], world, world.keys[state.name])
    assert accepted is state.accepted


@pytest.mark.parametrize("state", STATES, ids=lambda s: s.name)
async def test_the_refusal_names_what_the_match_refused(
    owner_conn: AsyncConnection, world: World, state: State
) -> None:
    reason = await _as_app(owner_conn, _refusal, world, world.keys[state.name])
    assert reason == state.refusal


async def test_every_function_taking_a_token_hash_is_in_the_matrix_and_calls_the_match(
    owner_conn: AsyncConnection,
) -> None:
    rows = (
        await owner_conn.execute(
            text(
                "SELECT proname, prosrc FROM pg_proc "
                "WHERE pronamespace = 'public'::regnamespace "
                "AND 'p_token_hash' = ANY (proargnames)"
            )
        )
    ).all()
    sources = {row.proname: row.prosrc for row in rows}
    assert set(sources) == {*ENTRY_POINTS, "app_token_refusal", "app_token_match"}
    for name, source in sources.items():
        if name != "app_token_match":
            assert any(f"{m}(" in source for m in CALLERS_OF_THE_MATCH), name


# ------------------------------------------------------------------------ negative controls
# Each function in turn gets a private match with one condition left out (its definition
# calls a lax copy instead of the shared one): the matrix must then disagree on that state.

LAXITIES = {
    "overlap_end": ("AND t.previous_expires_at > now()", "rotated_after_overlap"),
    "revocation": ("AND t.revoked_at IS NULL", "revoked"),
}
ALTERED = [*ENTRY_POINTS, "app_token_refusal", "app_token_match"]


async def _definition(conn: AsyncConnection, name: str) -> str:
    sql: str = await conn.scalar(
        text("SELECT pg_get_functiondef(oid) FROM pg_proc WHERE proname = :n"), {"n": name}
    )
    return sql


# the match, and the functions that call it for others: each gets a lax copy in turn
CALLERS_OF_THE_MATCH = (
    "app_token_match",
    "app_token_check",
    "app_lane_check",
    "app_lane_check_plain",
    "app_authenticate",
)


def _lax(name: str) -> str:
    return name.replace("app_", "test_lax_", 1)


def _laxed(definition: str) -> str:
    for name in CALLERS_OF_THE_MATCH:
        definition = definition.replace(f"{name}(", f"{_lax(name)}(")
    return definition


async def _give_private_match(conn: AsyncConnection, name: str, condition: str) -> None:
    match = await _definition(conn, "app_token_match")
    assert condition in match
    lax_match = match.replace(condition, "")
    if name == "app_token_match":
        await conn.exec_driver_sql(lax_match)
        return
    # lax copies of the match and of each function calling it for others, calling each other
    await conn.exec_driver_sql(_laxed(lax_match))
    for caller in CALLERS_OF_THE_MATCH[1:]:
        await conn.exec_driver_sql(_laxed(await _definition(conn, caller)))
    own = await _definition(conn, name)
    # the function keeps its own name
    lax_own = _laxed(own).replace(f"public.{_lax(name)}(", f"public.{name}(", 1)
    assert lax_own != own
    await conn.exec_driver_sql(lax_own)


@pytest.mark.parametrize("laxity", list(LAXITIES))
@pytest.mark.parametrize("name", ALTERED)
async def test_a_function_with_its_own_match_is_caught(
    owner_conn: AsyncConnection, world: World, name: str, laxity: str
) -> None:
    condition, state_name = LAXITIES[laxity]
    key = world.keys[state_name]
    await _give_private_match(owner_conn, name, condition)
    disagreeing = set()
    for entry, verdict in ENTRY_POINTS.items():
        if await _as_app(owner_conn, verdict, world, key) is not key.state.accepted:
            disagreeing.add(entry)
    if await _as_app(owner_conn, _refusal, world, key) != key.state.refusal:
        disagreeing.add("app_token_refusal")
    assert disagreeing, f"the matrix did not notice {name} ignoring {laxity}"
    if name not in CALLERS_OF_THE_MATCH:
        # a function of its own: only it disagrees (the others still share the match)
        assert disagreeing == {name}


# --------------------------------------------------------------------------- inlining


async def test_the_match_is_inlined_into_the_lanes_check(
    owner_conn: AsyncConnection, world: World
) -> None:
    """PostgreSQL inlines `app_token_check` and the match inside it into the calling
    statement, and the lane's check (`app_lane_check`) with them: no function scan is
    left, only the index lookups (migrations 0013, 0016, 0021)."""

    async def plan(conn: AsyncConnection, _world: World, key: Key) -> str:
        await conn.execute(
            text("SELECT set_config('app.tenant_id', :t, true)"),
            {"t": str(world.tenants["A"])},
        )
        # a literal, as a custom plan of the lane's prepared statement would see it
        literal = "'\\x" + key.presented.hex() + "'::bytea"
        plans = []
        for call in (
            f"app_token_check({literal})",
            f"app_lane_check('{world.tenants['A']}', '[]'::jsonb, {literal})",
            f"app_lane_check_plain('{world.tenants['A']}', '[]'::jsonb, {literal})",
        ):
            rows = await conn.execute(text(f"EXPLAIN SELECT * FROM {call}"))
            plans.append("\n".join(row[0] for row in rows))
        return plans

    for explained in await _as_app(owner_conn, plan, world, world.keys["valid"]):
        assert "Function Scan" not in explained, explained
        assert "api_tokens" in explained


# --------------------------------------------------------------------------- one allow-list


async def test_the_lanes_scope_allows_the_origins_cors_allows(
    owner_conn: AsyncConnection, world: World
) -> None:
    """A lane read from a page on another origin (`app_lane_scope` given the origin,
    migration 0051) matches its credential exactly when the CORS middleware's allow-list
    (`app_cors_origins`) holds that origin, for every kind of credential: a widget key its
    own list, a visitor session and a preview the tenant's list and its live widget keys',
    a member or partner its tenant's."""
    tenant = world.tenants["A"]
    await owner_conn.execute(
        text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant)}
    )
    presented: dict[str, bytes] = {"partner": world.keys["valid"].presented}
    contact = uuid.uuid4()  # a visitor session is a contact's
    await owner_conn.execute(
        text("INSERT INTO contacts (tenant_id, id, email) VALUES (:t, :id, 'v@example.com')"),
        {"t": tenant, "id": contact},
    )
    widget_origins = {
        "widget": ["https://widget.example"],
        "visitor": [],
        "preview": [],
        "revoked_widget": ["https://revoked-widget.example"],
    }
    for name, allowed in widget_origins.items():
        kind = "widget" if name.endswith("widget") else name
        presented[name] = os.urandom(32)
        await owner_conn.execute(
            text(
                "INSERT INTO api_tokens (tenant_id, id, kind, token_hash, allowed_origins, "
                "space_ids, contact_id, revoked_at) VALUES (:t, :id, :kind, :h, :allowed, :spaces, "
                ":contact, CASE WHEN :revoked THEN now() END)"
            ),
            {
                "t": tenant,
                "id": uuid.uuid4(),
                "kind": kind,
                "h": presented[name],
                "allowed": allowed,
                "spaces": [uuid.uuid4()] if kind == "preview" else [],
                "contact": contact if kind == "visitor" else None,
                "revoked": name.startswith("revoked"),
            },
        )
    origins = [
        *ORIGINS["A"],
        *ORIGINS["B"],
        "https://widget.example",
        "https://revoked-widget.example",
        "https://elsewhere.example",
    ]

    async def verdicts(conn: AsyncConnection, _world: World, _key: Key) -> dict[Any, Any]:
        found = {}
        for name, digest in presented.items():
            listed = await conn.scalar(text("SELECT app_cors_origins(:h)"), {"h": digest})
            for origin in origins:
                scoped = await conn.scalar(
                    text("SELECT count(*) FROM app_lane_scope(:t, :h, :o)"),
                    {"t": tenant, "h": digest, "o": origin},
                )
                found[name, origin] = (scoped == 1, origin in (listed or ()))
        return found

    found = await _as_app(owner_conn, verdicts, world, world.keys["valid"])
    assert all(scoped == listed for scoped, listed in found.values()), found
    allowed = {key for key, (scoped, _) in found.items() if scoped}
    assert allowed == {
        ("partner", "https://a.example"),
        ("widget", "https://widget.example"),
        ("visitor", "https://a.example"),
        ("visitor", "https://widget.example"),
        ("preview", "https://a.example"),
        ("preview", "https://widget.example"),
    }
