"""Writes with one PL/pgSQL call fewer: the fast lane's check written once, inlined.

The fast lane's `blockUpdate` ran three nested PL/pgSQL functions (`app_lane_block_update`
-> `app_block_update` -> `app_emit_events`), each call with its own executor start,
tuplestore and result copying: about a fifth of the statement's database CPU. Now:

- `app_lane_check` is the lane's credential re-check, written once for every lane write:
  does the token still stand for the principal the lane remembers (`p_who`, as
  microspace/lane/lane.py `_principal_json` builds it), and has the tenant's subscription
  ended (migration 0020's rule)? A plain SQL function over `app_token_check` (the one
  token match), STABLE with the caller's rights: PostgreSQL inlines it into the calling
  statement, no call of its own. Not exactly one matching row: not the same principal;
- `app_block_update` is the one block update, and the lane's too: given a principal it
  first scopes its transaction to the tenant and asks `app_lane_check` (in order: a
  PL/pgSQL function's statements run one after the other), and a NULL token hash (the
  lane's for a refused origin) matches nothing; given none (the resolver, in a
  transaction already scoped) it writes at once. The event still goes through
  `app_emit_events`, the one writer of domain events. `app_lane_block_update` is gone.

`LANE_PRELUDE` is that scope-and-check, as every lane write function starts.

Revision ID: 0021
Revises: 0020
"""

from alembic import op

from migrations.revisions import by_revision
from migrations.rls import APP_ROLE

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# the principal as the lane compares it (microspace/lane/lane.py `_same_principal`)
LANE_CHECK = f"""
CREATE FUNCTION app_lane_check(p_tenant uuid, p_who jsonb, p_token_hash bytea)
RETURNS TABLE (same boolean, ended boolean)
LANGUAGE sql STABLE SECURITY INVOKER ROWS 1
AS $$
    SELECT coalesce(count(*) = 1 AND bool_and(jsonb_build_array(
               a.token_id, a.kind, a.member_id, a.contact_id, a.policy_version,
               CASE WHEN a.kind = 'member'
                    THEN CASE WHEN coalesce(a.role, '') = '' THEN '[]'::jsonb
                              ELSE jsonb_build_array(a.role) END
                    ELSE to_jsonb(coalesce(a.scopes, ARRAY[]::varchar[])) END) = p_who), false),
           coalesce(bool_or({by_revision("0020").ENDED}), false)
      FROM public.app_token_check(p_token_hash) AS a
      JOIN public.tenants t ON t.id = p_tenant
$$
"""

# The first statements of a lane write function (declares `v_tenant text; v_ended boolean;`
# and an OUT `same`): the tenant for this transaction only (the calling statement is its
# own), then the check; a write runs only when `same AND NOT v_ended`. Not the same
# principal: the lane forgets it; ended: the whole way answers SUBSCRIPTION_ENDED.
LANE_PRELUDE = """
        v_tenant := set_config('app.tenant_id', p_tenant::text, true);
        SELECT c.same, c.ended INTO same, v_ended
          FROM app_lane_check(p_tenant, p_who, p_token_hash) AS c;
"""

# no block when none of a kind in `p_kinds` has the id, or the lane's check refused:
# nothing written, the whole way says why (not found, a body invalid for the block's kind)
BLOCK_UPDATE = f"""
CREATE FUNCTION app_block_update(
    p_tenant uuid, p_id uuid, p_kinds text[], p_bodies jsonb[], p_event jsonb,
    p_who jsonb DEFAULT NULL, p_token_hash bytea DEFAULT NULL)
RETURNS TABLE (same boolean, block blocks)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER ROWS 1
AS $$
DECLARE
    v_tenant text;
    v_ended boolean := false;
    v_block blocks;
BEGIN
    same := true;
    IF p_who IS NOT NULL THEN
        {LANE_PRELUDE}
    END IF;
    IF same AND NOT v_ended THEN
        UPDATE blocks AS b
           SET body = (SELECT v.b FROM unnest(p_kinds, p_bodies) AS v(k, b) WHERE v.k = b.kind),
               updated_at = now()
         WHERE b.tenant_id = p_tenant AND b.id = p_id AND b.kind = ANY (p_kinds)
        RETURNING b.* INTO v_block;
        IF FOUND THEN
            PERFORM app_emit_events(p_tenant, 'block.updated', ARRAY[p_event]);
            block := v_block;
        END IF;
    END IF;
    RETURN NEXT;
END
$$
"""

OLD = "app_block_update(uuid, uuid, text[], jsonb[], jsonb)"
LANE_OLD = "app_lane_block_update(uuid, uuid, text[], jsonb[], jsonb, jsonb, bytea)"
SIGNATURES = (
    "app_lane_check(uuid, jsonb, bytea)",
    "app_block_update(uuid, uuid, text[], jsonb[], jsonb, jsonb, bytea)",
)


def _grant(signatures: tuple[str, ...]) -> None:
    for signature in signatures:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")


def upgrade() -> None:
    op.execute(f"DROP FUNCTION {LANE_OLD}")
    op.execute(f"DROP FUNCTION {OLD}")
    op.execute(LANE_CHECK)
    op.execute(BLOCK_UPDATE)
    _grant(SIGNATURES)


def downgrade() -> None:
    for signature in reversed(SIGNATURES):
        op.execute(f"DROP FUNCTION {signature}")
    op.execute(by_revision("0015").BLOCK_UPDATE)
    _grant((OLD,))
    lane = by_revision("0020").LANE_BLOCK_UPDATE
    op.execute(lane.replace("CREATE OR REPLACE FUNCTION", "CREATE FUNCTION", 1))
    _grant((LANE_OLD,))
