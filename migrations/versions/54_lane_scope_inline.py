"""The lane's scope is a SQL function PostgreSQL inlines into the read that calls it.

`app_lane_scope` was PL/pgSQL: `set_config` of the tenant, then RETURN QUERY of the token
match. Every lane read paid for the call, its rows kept in a tuplestore and, through SPI,
a second executor start of its cached plan (its locks, its own plan tree). Now it is one
SELECT, inlined into the lane's statement: `set_config` in a subquery of its own (OFFSET 0
keeps it apart), and the token match in a LATERAL subquery that names that subquery's
column, so PostgreSQL can only run the match, and every table under row-level security
after it, on the inner side of a nested loop whose outer row has set the tenant (as the
lane's read itself depends on the scope's row, microspace/lane/lane.py `_auth_sql`). Were
the match ever to run first, the policies would see no tenant and match nothing: no row,
never another tenant's. The function is STABLE only so that PostgreSQL inlines it
(`set_config` stays volatile in the inlined query and is never folded at plan time);
called where it cannot be inlined it runs the same SELECT.

The member's role is a scalar subquery instead of a LEFT JOIN (members' key is (tenant_id,
id): at most one row, NULL without one, as before): one join node fewer to start.

Instructions per q1 statement (a private PostgreSQL under callgrind, bench data,
bench/README.md): 756 k -> 711 k inlined, 691 k with the role's subquery.

Revision ID: 0056
Revises: 0055
"""

from alembic import op

from migrations.revisions import by_revision
from migrations.rls import APP_ROLE

revision = "0056"
down_revision = "0055"
branch_labels = None
depends_on = None

# `p_origin`: a cross-origin request's Origin, which the credential must allow (no row
# otherwise); NULL for a request without one
SCOPE = """
CREATE OR REPLACE FUNCTION app_lane_scope(
    p_tenant uuid, p_token_hash bytea, p_origin text DEFAULT NULL)
RETURNS TABLE (token_id uuid, tenant_id uuid, kind varchar, member_id uuid,
               role varchar, scopes varchar[], policy_version integer, contact_id uuid)
LANGUAGE sql STABLE SECURITY INVOKER ROWS 1
AS $$
    -- the tenant, for this transaction only, before the match reads any table: the match
    -- names `s.tenant`, so it runs on the inner side of a nested loop under `s`
    SELECT x.id, x.tenant_id, x.kind, x.member_id, x.role, x.scopes, x.policy_version,
           x.contact_id
    FROM (SELECT set_config('app.tenant_id', p_tenant::text, true) AS tenant OFFSET 0) s
    CROSS JOIN LATERAL (
        -- app_token_check's rows, within the tenant row-level security limits it to
        SELECT t.id, t.tenant_id, t.kind, t.member_id,
               (SELECT m.role FROM public.members m
                WHERE m.tenant_id = t.tenant_id AND m.id = t.member_id) AS role,
               t.scopes, tn.policy_version, t.contact_id
        FROM public.app_token_match(p_token_hash) t
        JOIN public.tenants tn ON tn.id = t.tenant_id
        WHERE t.tenant_id = p_tenant AND s.tenant IS NOT NULL
          AND (p_origin IS NULL
               OR p_origin = ANY (public.app_token_origins(
                   t.kind, t.tenant_id, t.allowed_origins, tn.cors_origins)))
        OFFSET 0) x
$$
"""


def upgrade() -> None:
    # replaced in place: its grants stay (PostgreSQL inlines a function only for a caller
    # allowed to execute it)
    op.execute(SCOPE)


def downgrade() -> None:
    op.execute("DROP FUNCTION app_lane_scope(uuid, bytea, text)")
    op.execute(by_revision("0051").SCOPE)
    op.execute("REVOKE ALL ON FUNCTION app_lane_scope(uuid, bytea, text) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION app_lane_scope(uuid, bytea, text) TO {APP_ROLE}")
