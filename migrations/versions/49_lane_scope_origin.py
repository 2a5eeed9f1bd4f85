"""A browser's lane read checks its Origin in the scope's one token lookup, and the scope
looks the token up within its tenant.

Before, a lane read with a cross-origin `Origin` passed `app_lane_scope` the token hash
only when `origin = ANY(app_cors_origins(hash))` (microspace/lane/lane.py `_credential`):
a second token lookup, in a function with the owner's rights and its own `search_path`,
for every browser request. Now `app_lane_scope` takes the origin and returns the
credential's row only when the credential allows it, from the row it has already
matched.

One allow-list: `app_token_origins` is what a credential allows, given its kind, tenant,
own list (a widget key's `allowed_origins`) and its tenant's `cors_origins`; a visitor
session and a preview take the tenant's list and its live widget keys' origins
(`app_widget_origins`), as migrations 0016 and 0033 wrote it. `app_cors_origins` (the CORS
middleware's, microspace/web/cors.py, and the whole way's authentication,
`core.auth.AUTHENTICATE_FROM`) now returns it for the row it matches; `app_lane_scope`
compares the origin with it. It is a plain SQL function without a sublink, so PostgreSQL
inlines it into both; the widget keys' subquery, which only visitors and previews reach,
is a PL/pgSQL function with its caller's rights (the owner's in `app_cors_origins`, the
tenant's own keys in a lane read: the same keys).

The scope's lookup is written out (the same rows as `app_token_check`: the match, its
tenant, its member's role) with the tenant given (`t.tenant_id = p_tenant`): row-level
security already limits it to that tenant, and with the tenant stated PostgreSQL checks
the policies' tenant once per scan instead of once per row. Instructions per statement
(a private PostgreSQL under callgrind, bench data, bench/README.md): q1 856 k -> 774 k,
q1 with `Origin` 1,093 k -> 776 k.

Revision ID: 0051
Revises: 0050
"""

from alembic import op

from migrations.revisions import by_revision
from migrations.rls import APP_ROLE

revision = "0051"
down_revision = "0050"
branch_labels = None
depends_on = None

WIDGET_ORIGINS = """
CREATE FUNCTION app_widget_origins(p_tenant uuid) RETURNS varchar[]
LANGUAGE plpgsql STABLE SECURITY INVOKER
AS $$
BEGIN
    -- a tenant's live widget keys' origins (migration 0016's subquery), as its caller sees
    -- them: the owner (app_cors_origins) every tenant's, a lane read its own tenant's
    RETURN ARRAY(
        SELECT DISTINCT o FROM public.api_tokens w, unnest(w.allowed_origins) AS o
        WHERE w.tenant_id = p_tenant AND w.kind = 'widget' AND w.revoked_at IS NULL
          AND (w.expires_at IS NULL OR w.expires_at > now()));
END
$$
"""

# the allow-list of a credential: inlined (SQL, no sublink, the caller's rights)
TOKEN_ORIGINS = """
CREATE FUNCTION app_token_origins(
    p_kind varchar, p_tenant uuid, p_allowed varchar[], p_tenant_origins varchar[])
RETURNS varchar[]
LANGUAGE sql STABLE
AS $$
    SELECT CASE p_kind
        WHEN 'widget' THEN p_allowed
        WHEN 'visitor' THEN p_tenant_origins || public.app_widget_origins(p_tenant)
        WHEN 'preview' THEN p_tenant_origins || public.app_widget_origins(p_tenant)
        ELSE p_tenant_origins
    END
$$
"""

CORS_ORIGINS = """
CREATE OR REPLACE FUNCTION app_cors_origins(p_token_hash bytea) RETURNS varchar[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    RETURN (
        SELECT app_token_origins(t.kind, t.tenant_id, t.allowed_origins, tn.cors_origins)
        FROM app_token_match(p_token_hash) t JOIN tenants tn ON tn.id = t.tenant_id
    );
END
$$
"""

# `p_origin`: a cross-origin request's Origin, which the credential must allow (no row
# otherwise); NULL for a request without one
SCOPE = """
CREATE FUNCTION app_lane_scope(p_tenant uuid, p_token_hash bytea, p_origin text DEFAULT NULL)
RETURNS TABLE (token_id uuid, tenant_id uuid, kind varchar, member_id uuid,
               role varchar, scopes varchar[], policy_version integer, contact_id uuid)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER ROWS 1
AS $$
DECLARE
    v_tenant text;
BEGIN
    -- for this transaction only: the statement that called us is its own transaction
    v_tenant := set_config('app.tenant_id', p_tenant::text, true);
    -- app_token_check's rows, within the tenant row-level security already limits it to
    RETURN QUERY
    SELECT t.id, t.tenant_id, t.kind, t.member_id, m.role, t.scopes, tn.policy_version,
           t.contact_id
    FROM public.app_token_match(p_token_hash) t
    JOIN public.tenants tn ON tn.id = t.tenant_id
    LEFT JOIN public.members m ON m.tenant_id = t.tenant_id AND m.id = t.member_id
    WHERE t.tenant_id = p_tenant
      AND (p_origin IS NULL
           OR p_origin = ANY (public.app_token_origins(
               t.kind, t.tenant_id, t.allowed_origins, tn.cors_origins)));
END
$$
"""

SIGNATURES = (
    "app_widget_origins(uuid)",
    "app_token_origins(varchar, uuid, varchar[], varchar[])",
    "app_lane_scope(uuid, bytea, text)",
)


def upgrade() -> None:
    op.execute(WIDGET_ORIGINS)
    op.execute(TOKEN_ORIGINS)
    op.execute(CORS_ORIGINS)
    op.execute("DROP FUNCTION app_lane_scope(uuid, bytea)")
    op.execute(SCOPE)
    for signature in SIGNATURES:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        # PostgreSQL inlines a function only for a caller allowed to execute it
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION app_lane_scope(uuid, bytea, text)")
    op.execute(by_revision("0013").SCOPE)
    op.execute("REVOKE ALL ON FUNCTION app_lane_scope(uuid, bytea) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION app_lane_scope(uuid, bytea) TO {APP_ROLE}")
    op.execute(by_revision("0033")._cors_origins())
    op.execute("DROP FUNCTION app_token_origins(varchar, uuid, varchar[], varchar[])")
    op.execute("DROP FUNCTION app_widget_origins(uuid)")
