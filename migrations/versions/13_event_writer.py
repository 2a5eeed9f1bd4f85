"""One domain-event writer and one block update, for every path that writes them.

`app_emit_events` is the only INSERT into `domain_events`: `emit` (store/events.py), the
one-statement updates (`with_event`) and `app_block_update` call it. The payloads come
built (store/events.py `event_payload`), so their shape is written once too.

`app_block_update` is `blockUpdate`'s write: the body for the block's own kind (validated
for every kind beforehand, store/blocks.py), and its event when a row changed. The
resolver calls it in the request's transaction; `app_lane_block_update` calls it once it
has scoped itself and checked the credential, still one statement and one round trip.
All run with the caller's rights: row-level security holds them to the tenant.

Revision ID: 0015
Revises: 0014
"""

import importlib
import re
from pathlib import Path
from types import ModuleType

from alembic import op

from migrations.rls import APP_ROLE

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# PL/pgSQL: it keeps its statement's plan for the session (a SQL function that writes is
# planned again on every call)
EMIT_EVENTS = """
CREATE FUNCTION app_emit_events(p_tenant uuid, p_topic text, p_payloads jsonb[])
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
BEGIN
    INSERT INTO domain_events (tenant_id, id, topic, payload)
    SELECT p_tenant, gen_random_uuid(), p_topic, p FROM unnest(p_payloads) AS p;
END
$$
"""

# no row when no block of a kind in `p_kinds` has the id: nothing is written, and the
# resolver says why (not found, or a body invalid for the block's kind)
BLOCK_UPDATE = """
CREATE FUNCTION app_block_update(
    p_tenant uuid, p_id uuid, p_kinds text[], p_bodies jsonb[], p_event jsonb)
RETURNS SETOF blocks
LANGUAGE plpgsql VOLATILE SECURITY INVOKER ROWS 1
AS $$
DECLARE
    v_block blocks;
BEGIN
    UPDATE blocks AS b
       SET body = (SELECT v.b FROM unnest(p_kinds, p_bodies) AS v(k, b) WHERE v.k = b.kind),
           updated_at = now()
     WHERE b.tenant_id = p_tenant AND b.id = p_id AND b.kind = ANY (p_kinds)
    RETURNING b.* INTO v_block;
    IF FOUND THEN
        PERFORM app_emit_events(p_tenant, 'block.updated', ARRAY[p_event]);
        RETURN NEXT v_block;
    END IF;
END
$$
"""

# migration 0013's function, its write now `app_block_update`'s; same signature and grants
LANE_BLOCK_UPDATE = """
CREATE OR REPLACE FUNCTION app_lane_block_update(
    p_tenant uuid, p_id uuid, p_kinds text[], p_bodies jsonb[], p_event jsonb,
    p_who jsonb, p_token_hash bytea)
RETURNS TABLE (same boolean, block blocks)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER ROWS 1
AS $$
DECLARE
    v_tenant text;
    v_who jsonb;
    v_block blocks;
BEGIN
    -- for this transaction only: the statement that called us is its own transaction
    v_tenant := set_config('app.tenant_id', p_tenant::text, true);
    SELECT jsonb_agg(jsonb_build_array(
               a.token_id, a.kind, a.member_id, a.contact_id, a.policy_version,
               CASE WHEN a.kind = 'member'
                    THEN CASE WHEN coalesce(a.role, '') = '' THEN '[]'::jsonb
                              ELSE jsonb_build_array(a.role) END
                    ELSE to_jsonb(coalesce(a.scopes, ARRAY[]::varchar[])) END))
      INTO v_who
      FROM app_token_check(p_token_hash) AS a;
    IF v_who IS DISTINCT FROM jsonb_build_array(p_who) THEN
        same := false;
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT * INTO v_block FROM app_block_update(p_tenant, p_id, p_kinds, p_bodies, p_event);
    same := true;
    block := v_block;
    RETURN NEXT;
END
$$
"""

SIGNATURES = (
    "app_emit_events(uuid, text, jsonb[])",
    "app_block_update(uuid, uuid, text[], jsonb[], jsonb)",
)


def upgrade() -> None:
    op.execute(EMIT_EVENTS)
    op.execute(BLOCK_UPDATE)
    for signature in SIGNATURES:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")
    op.execute(LANE_BLOCK_UPDATE)


def _revision(rev: str) -> ModuleType:
    """The migration of a revision id (file names follow the chain; the ids stay)."""
    pattern = re.compile(rf'^revision = "{rev}"$', re.MULTILINE)
    for path in sorted(Path(__file__).parent.glob("*.py")):
        if pattern.search(path.read_text()):
            return importlib.import_module(f"migrations.versions.{path.stem}")
    raise LookupError(f"no migration of revision {rev}")


def downgrade() -> None:
    previous = _revision("0013").BLOCK_UPDATE
    op.execute(previous.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    for signature in reversed(SIGNATURES):
        op.execute(f"DROP FUNCTION {signature}")
