"""The fast lane in one round trip: a credential check PostgreSQL inlines, and functions
that scope a statement to its tenant before it reads or writes.

`app_token_check` (migration 0012) was a PL/pgSQL function with the owner's rights and its
own `search_path`: PostgreSQL runs such a function through a call of its own on every
statement (about a tenth of a `blockUpdate` statement's time). Every caller sets the
tenant first, so the match needs no owner's rights: as a plain SQL function with the
caller's rights it is inlined into the calling statement, and row-level security limits it
to the tenant's own tokens.

`app_lane_scope` sets the tenant for its transaction (the calling statement's own) and
returns the credential's row; a read's plan runs LATERAL to it, behind an optimisation
fence, so none of the plan runs before the function has returned (microspace/lane/lane.py
`_auth_sql`). Before, the lane set the tenant in a round trip of its own.

`app_lane_block_update` is the lane's block update in one round trip: it sets the tenant
the same way before it reads or writes anything (the statements of a PL/pgSQL function
run in order), checks that the credential still stands for the principal the lane
remembers, writes the row and its domain event. A writing statement cannot run LATERAL to
the scope: the parts of a statement with a data-modifying WITH run in an order the
planner chooses.

Revision ID: 0013
Revises: 0012
"""

import importlib

from alembic import op

from migrations.rls import APP_ROLE

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TOKEN_CHECK = """
CREATE OR REPLACE FUNCTION app_token_check(p_token_hash bytea)
RETURNS TABLE (token_id uuid, tenant_id uuid, kind varchar, member_id uuid,
               role varchar, scopes varchar[], policy_version integer, contact_id uuid)
LANGUAGE sql STABLE SECURITY INVOKER
AS $$
    -- the same match as app_authenticate (migration 0007)
    SELECT t.id, t.tenant_id, t.kind, t.member_id, m.role, t.scopes, tn.policy_version,
           t.contact_id
    FROM public.api_tokens t
    JOIN public.tenants tn ON tn.id = t.tenant_id
    LEFT JOIN public.members m ON m.tenant_id = t.tenant_id AND m.id = t.member_id
    WHERE (t.token_hash = p_token_hash
           OR (t.previous_token_hash = p_token_hash AND t.previous_expires_at > now()))
      AND t.revoked_at IS NULL
      AND (t.expires_at IS NULL OR t.expires_at > now())
$$
"""

SCOPE = """
CREATE FUNCTION app_lane_scope(p_tenant uuid, p_token_hash bytea)
RETURNS TABLE (token_id uuid, tenant_id uuid, kind varchar, member_id uuid,
               role varchar, scopes varchar[], policy_version integer, contact_id uuid)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER ROWS 1
AS $$
DECLARE
    v_tenant text;
BEGIN
    -- for this transaction only: the statement that called us is its own transaction
    v_tenant := set_config('app.tenant_id', p_tenant::text, true);
    RETURN QUERY SELECT * FROM app_token_check(p_token_hash);
END
$$
"""

# `same` is false when the credential no longer stands for the principal `p_who` describes
# (microspace/lane/lane.py `_principal_json`): revoked, expired, another role, scopes or
# policy version. Then nothing is written. `block` is null when no block of a kind in
# `p_kinds` has the id: nothing is written either, and the whole way says why.
BLOCK_UPDATE = """
CREATE FUNCTION app_lane_block_update(
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
    UPDATE blocks AS b
       SET body = (SELECT v.b FROM unnest(p_kinds, p_bodies) AS v(k, b) WHERE v.k = b.kind),
           updated_at = now()
     WHERE b.tenant_id = p_tenant AND b.id = p_id AND b.kind = ANY (p_kinds)
    RETURNING b.* INTO v_block;
    IF FOUND THEN
        INSERT INTO domain_events (tenant_id, id, topic, payload)
        VALUES (p_tenant, gen_random_uuid(), 'block.updated', p_event);
    END IF;
    same := true;
    block := v_block;
    RETURN NEXT;
END
$$
"""

SIGNATURES = (
    "app_lane_scope(uuid, bytea)",
    "app_lane_block_update(uuid, uuid, text[], jsonb[], jsonb, jsonb, bytea)",
)


def upgrade() -> None:
    op.execute(TOKEN_CHECK)
    op.execute(SCOPE)
    op.execute(BLOCK_UPDATE)
    for signature in SIGNATURES:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")


def downgrade() -> None:
    for signature in SIGNATURES:
        op.execute(f"DROP FUNCTION {signature}")
    previous = importlib.import_module("migrations.versions.10_fast_lane")
    op.execute(previous.TOKEN_CHECK.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
