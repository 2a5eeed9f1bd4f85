"""`blockUpdate` with fewer instructions in PostgreSQL (bench/README.md, q3).

Measured by instructions per statement of the lane's `blockUpdate` statement (callgrind, a
private PostgreSQL 15 with a copy of the bench database; 837 k before):

- `app_lane_check` (every lane write's re-check of the credential) reads the tenant first
  and the token's matches under it as one array: `ARRAY(the matches' principals) =
  ARRAY[p_who]` is true for exactly one match that is the principal `p_who`, as the
  aggregate's `count(*) = 1 AND bool_and(...)` was (two tokens matching the hash, or none:
  not the same), with no aggregate and no second join of the tenant; whether the
  subscription has ended is the tenant's. The tenant row is the one the caller scoped its
  transaction to; without it (another tenant) there is no row, and the callers read NULL:
  not the same, nothing written. -25 k.
- `app_block_update` takes the body for the block's kind by `array_position` instead of a
  subquery over `unnest`, and inserts its one event itself (`EVENT_INSERT`: the row
  `app_emit_events` inserts for one payload) instead of calling `app_emit_events`: one
  function call and its statement fewer. -64 k.

Together 837 k -> 743 k (-11 %). Same answers: the token re-checked against the remembered
principal, the block's checks, the same domain event, announced by the same trigger.

Revision ID: 0050
Revises: 0049
"""

from alembic import op

from migrations.revisions import by_revision

revision = "0050"
down_revision = "0049"
branch_labels = None
depends_on = None

LANE_CHECK = f"""
CREATE OR REPLACE FUNCTION app_lane_check(p_tenant uuid, p_who jsonb, p_token_hash bytea)
RETURNS TABLE (same boolean, ended boolean)
LANGUAGE sql STABLE SECURITY INVOKER ROWS 1
AS $$
    SELECT ARRAY(
               SELECT jsonb_build_array(
                   a.id, a.kind, a.member_id, a.contact_id, t.policy_version,
                   CASE WHEN a.kind = 'member'
                        THEN CASE WHEN coalesce(m.role, '') = '' THEN '[]'::jsonb
                                  ELSE jsonb_build_array(m.role) END
                        ELSE to_jsonb(coalesce(a.scopes, ARRAY[]::varchar[])) END)
                 FROM public.app_token_match(p_token_hash) AS a
                 LEFT JOIN public.members m ON m.tenant_id = a.tenant_id AND m.id = a.member_id
                WHERE a.tenant_id = t.id) = ARRAY[p_who],
           {by_revision("0020").ENDED}
      FROM public.tenants t
     WHERE t.id = p_tenant
$$
"""

# the row `app_emit_events` (migration 0015) inserts for one payload
EVENT_INSERT = """INSERT INTO domain_events (tenant_id, id, topic, payload)
            VALUES (p_tenant, gen_random_uuid(), 'block.updated', p_event);"""

BODY_BY_UNNEST = "(SELECT v.b FROM unnest(p_kinds, p_bodies) AS v(k, b) WHERE v.k = b.kind)"
BODY_BY_POSITION = "p_bodies[array_position(p_kinds, b.kind::text)]"
EMIT = "PERFORM app_emit_events(p_tenant, 'block.updated', ARRAY[p_event]);"


def _block_update() -> str:
    """Migration 0035's `app_block_update`, the body by position, the event inserted."""
    text: str = by_revision("0035")._block_update(True)
    for old, new in ((BODY_BY_UNNEST, BODY_BY_POSITION), (EMIT, EVENT_INSERT)):
        assert old in text
        text = text.replace(old, new, 1)
    return text


def upgrade() -> None:
    op.execute(LANE_CHECK)
    op.execute(_block_update())


def downgrade() -> None:
    op.execute(by_revision("0035")._block_update(True))
    op.execute(by_revision("0047").LANE_CHECK)
