"""The CORS allow-list functions in PL/pgSQL, so their plans are kept.

`app_cors_origins` and `app_origin_known` were SQL functions with the owner's rights
(SECURITY DEFINER), which PostgreSQL never inlines; and a SQL function that is not inlined
plans its query again on every call. Measured on the benchmark's data: 0.4 ms of planning
per call, which every request from a browser paid (the fast lane checks the origin inside
its statement, microspace/lane/lane.py `_credential`). A PL/pgSQL function keeps its
statements' plans for the session. Same queries, same rights, same answers.

Revision ID: 0022
Revises: 0021
"""

from alembic import op

from migrations.revisions import by_revision

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# As before (migration 0016): a widget key's own origins, a visitor's its tenant's and its
# tenant's live widget keys', any other credential's its tenant's.
CORS_ORIGINS = """
CREATE OR REPLACE FUNCTION app_cors_origins(p_token_hash bytea) RETURNS varchar[]
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    RETURN (
        SELECT CASE t.kind
            WHEN 'widget' THEN t.allowed_origins
            WHEN 'visitor' THEN tn.cors_origins || ARRAY(
                SELECT DISTINCT o FROM api_tokens w, unnest(w.allowed_origins) AS o
                WHERE w.tenant_id = t.tenant_id AND w.kind = 'widget' AND w.revoked_at IS NULL
                  AND (w.expires_at IS NULL OR w.expires_at > now()))
            ELSE tn.cors_origins
        END
        FROM app_token_match(p_token_hash) t JOIN tenants tn ON tn.id = t.tenant_id
    );
END
$$
"""

# As before (migration 0011).
ORIGIN_KNOWN = """
CREATE OR REPLACE FUNCTION app_origin_known(p_origin varchar) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM tenants WHERE p_origin = ANY (cors_origins))
        OR EXISTS (SELECT 1 FROM api_tokens WHERE kind = 'widget' AND revoked_at IS NULL
                   AND (expires_at IS NULL OR expires_at > now())
                   AND p_origin = ANY (allowed_origins));
END
$$
"""


def upgrade() -> None:
    op.execute(CORS_ORIGINS)
    op.execute(ORIGIN_KNOWN)


def downgrade() -> None:
    replace = ("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    op.execute(by_revision("0016").CORS_ORIGINS)
    op.execute(by_revision("0011").ORIGIN_KNOWN.replace(*replace))
