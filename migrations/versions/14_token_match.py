"""One token match: `app_token_match`, which every function that looks a token up by its
hash calls.

Before, the match (the current secret, or the previous one inside its rotation overlap; not
revoked; not expired) was written out in `app_authenticate` (twice), `app_token_check` and
`app_cors_origins`, kept alike by a comment; `app_token_refusal` restated its inverse.

`app_token_match` is a plain SQL function, STABLE, with the caller's rights, no SET clause
and not STRICT: PostgreSQL inlines such a function into the calling statement, so
`app_token_check` (inlined itself, migration 0013) still plans into one statement with the
index lookups on `token_hash` and `previous_token_hash`, and the fast lane pays no function
call per request. With the caller's rights it sees what its caller sees: the application
role only its tenant's tokens (row-level security), so the tenant check of the fast lane's
statements is the policy's, as before; the owner, running `app_authenticate`,
`app_cors_origins` and `app_token_refusal`, every tenant's, and those return the tenant.

`app_token_refusal` now answers only for a hash the match refuses. It is only asked after
`app_authenticate` found nothing, so what callers see does not change.

Revision ID: 0016
Revises: 0015
"""

from alembic import op

from migrations.revisions import by_revision
from migrations.rls import APP_ROLE

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

MATCH = """
CREATE FUNCTION app_token_match(p_token_hash bytea)
RETURNS SETOF public.api_tokens
LANGUAGE sql STABLE SECURITY INVOKER ROWS 1
AS $$
    SELECT t.* FROM public.api_tokens t
    WHERE (t.token_hash = p_token_hash
           OR (t.previous_token_hash = p_token_hash AND t.previous_expires_at > now()))
      AND t.revoked_at IS NULL
      AND (t.expires_at IS NULL OR t.expires_at > now())
$$
"""

TOKEN_CHECK = """
CREATE OR REPLACE FUNCTION app_token_check(p_token_hash bytea)
RETURNS TABLE (token_id uuid, tenant_id uuid, kind varchar, member_id uuid,
               role varchar, scopes varchar[], policy_version integer, contact_id uuid)
LANGUAGE sql STABLE SECURITY INVOKER
AS $$
    SELECT t.id, t.tenant_id, t.kind, t.member_id, m.role, t.scopes, tn.policy_version,
           t.contact_id
    FROM public.app_token_match(p_token_hash) t
    JOIN public.tenants tn ON tn.id = t.tenant_id
    LEFT JOIN public.members m ON m.tenant_id = t.tenant_id AND m.id = t.member_id
$$
"""

# As before (migration 0007), with the owner's rights: the row is app_token_check's, which
# as the owner sees every tenant's tokens.
AUTHENTICATE = """
CREATE OR REPLACE FUNCTION app_authenticate(p_token_hash bytea)
RETURNS TABLE (token_id uuid, tenant_id uuid, kind varchar, member_id uuid,
               role varchar, scopes varchar[], policy_version integer, contact_id uuid)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    v_claim text;
BEGIN
    SELECT t.tenant_id || ':' || t.kind || ':' || coalesce(t.member_id, t.id)
        INTO v_claim
        FROM app_token_match(p_token_hash) t;
    PERFORM set_config(
        'app.principal',
        coalesce(v_claim || ':' || audit_principal_signature(v_claim), ''),
        true
    );
    RETURN QUERY SELECT * FROM app_token_check(p_token_hash);
END
$$
"""

# As before (migration 0011); a visitor's widget keys are live keys, not a match by hash.
CORS_ORIGINS = """
CREATE OR REPLACE FUNCTION app_cors_origins(p_token_hash bytea) RETURNS varchar[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT CASE t.kind
        WHEN 'widget' THEN t.allowed_origins
        WHEN 'visitor' THEN tn.cors_origins || ARRAY(
            SELECT DISTINCT o FROM api_tokens w, unnest(w.allowed_origins) AS o
            WHERE w.tenant_id = t.tenant_id AND w.kind = 'widget' AND w.revoked_at IS NULL
              AND (w.expires_at IS NULL OR w.expires_at > now()))
        ELSE tn.cors_origins
    END
    FROM app_token_match(p_token_hash) t JOIN tenants tn ON tn.id = t.tenant_id
$$
"""

# Why a known secret was refused (migration 0006): nothing for a secret the match accepts.
REFUSAL = """
CREATE OR REPLACE FUNCTION app_token_refusal(p_token_hash bytea) RETURNS varchar
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT CASE
        WHEN t.revoked_at IS NOT NULL THEN 'revoked'
        WHEN t.expires_at IS NOT NULL AND t.expires_at <= now() THEN 'expired'
        WHEN t.previous_token_hash = p_token_hash THEN 'rotated'
    END
    FROM api_tokens t
    WHERE (t.token_hash = p_token_hash OR t.previous_token_hash = p_token_hash)
      AND NOT EXISTS (SELECT FROM app_token_match(p_token_hash))
    LIMIT 1
$$
"""


def upgrade() -> None:
    op.execute(MATCH)
    op.execute("REVOKE ALL ON FUNCTION app_token_match(bytea) FROM PUBLIC")
    # the application role calls it through app_token_check (and PostgreSQL inlines a
    # function only for a caller allowed to execute it)
    op.execute(f"GRANT EXECUTE ON FUNCTION app_token_match(bytea) TO {APP_ROLE}")
    for sql in (TOKEN_CHECK, AUTHENTICATE, CORS_ORIGINS, REFUSAL):
        op.execute(sql)


def downgrade() -> None:
    replace = ("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    op.execute(by_revision("0013").TOKEN_CHECK)
    op.execute(by_revision("0007").AUTHENTICATE)
    op.execute(by_revision("0011").CORS_ORIGINS.replace(*replace))
    op.execute(by_revision("0006").REFUSAL.replace(*replace))
    op.execute("DROP FUNCTION app_token_match(bytea)")
