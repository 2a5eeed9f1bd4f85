"""The fast lane's credential check: `app_authenticate` without vouching for the audit.

`app_authenticate` also signs the principal into `app.principal` for `audit_append`, which
costs a SQL-function call (planned on every call) per request. A statement of the fast lane
(microspace/lane/lane.py) that appends no audit entry only needs to know that the token
still stands for the principal it remembers: this function returns the same row, signs
nothing, and is planned once per connection (PL/pgSQL caches its plans).

Revision ID: 0012
Revises: 0010
"""

from alembic import op

from migrations.rls import APP_ROLE

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None

TOKEN_CHECK = """
CREATE FUNCTION app_token_check(p_token_hash bytea)
RETURNS TABLE (token_id uuid, tenant_id uuid, kind varchar, member_id uuid,
               role varchar, scopes varchar[], policy_version integer, contact_id uuid)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    -- the same match as app_authenticate (migration 0007)
    RETURN QUERY
    SELECT t.id, t.tenant_id, t.kind, t.member_id, m.role, t.scopes, tn.policy_version,
           t.contact_id
    FROM api_tokens t
    JOIN tenants tn ON tn.id = t.tenant_id
    LEFT JOIN members m ON m.tenant_id = t.tenant_id AND m.id = t.member_id
    WHERE (t.token_hash = p_token_hash
           OR (t.previous_token_hash = p_token_hash AND t.previous_expires_at > now()))
      AND t.revoked_at IS NULL
      AND (t.expires_at IS NULL OR t.expires_at > now());
END
$$
"""


def upgrade() -> None:
    op.execute(TOKEN_CHECK)
    op.execute("REVOKE ALL ON FUNCTION app_token_check(bytea) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION app_token_check(bytea) TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION app_token_check(bytea)")
