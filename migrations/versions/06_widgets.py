"""Widgets: trusted (persisted) documents, visitor sessions, CORS origins per tenant.

Revision ID: 0011
Revises: 0006
"""

from alembic import op

from migrations.rls import APP_ROLE, grant_app, tenant_rls

revision = "0011"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = [
    # a visitor session (a contact who opened an invitation link) is a token like the others
    "ALTER TABLE api_tokens DROP CONSTRAINT IF EXISTS api_tokens_kind_check",
    """ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_kind_check
       CHECK (kind IN ('member', 'partner', 'widget', 'subject', 'visitor'))""",
    "ALTER TABLE api_tokens ADD CONSTRAINT ck_api_tokens_visitor CHECK (kind <> 'visitor' OR contact_id IS NOT NULL)",
    # origins whose pages may call the API with member or partner tokens (empty: same-origin)
    "ALTER TABLE tenants ADD COLUMN cors_origins varchar(300)[] NOT NULL DEFAULT '{}'",
    # the page an invitation link lands on (where the tenant embeds its widget)
    "ALTER TABLE tenants ADD COLUMN visitor_url varchar(2000)",
    """
    CREATE TABLE persisted_documents (
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        id uuid NOT NULL,
        sha256 char(64) NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        document text NOT NULL CHECK (length(document) <= 100000),
        -- registered by an owner or admin (mutation, CLI): widgets may run it; documents
        -- registered on the fly by the automatic persisted-query protocol are not trusted
        trusted boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id, sha256)
    )
    """,
]

# The origins a credential may be used from, for CORS on cross-origin requests, looked up
# before the tenant is known (like app_authenticate): a widget key's own list; a visitor
# session the tenant's widget keys' and the tenant's list; any other token the tenant's list.
CORS_ORIGINS = """
CREATE FUNCTION app_cors_origins(p_token_hash bytea) RETURNS varchar[]
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
    FROM api_tokens t JOIN tenants tn ON tn.id = t.tenant_id
    WHERE (t.token_hash = p_token_hash
           OR (t.previous_token_hash = p_token_hash AND t.previous_expires_at > now()))
      AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now())
$$
"""

# A preflight carries no credential: it may go ahead when some tenant or live widget key
# allows the origin. The real request is then checked against its own credential.
ORIGIN_KNOWN = """
CREATE FUNCTION app_origin_known(p_origin varchar) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT EXISTS (SELECT 1 FROM tenants WHERE p_origin = ANY (cors_origins))
        OR EXISTS (SELECT 1 FROM api_tokens WHERE kind = 'widget' AND revoked_at IS NULL
                   AND (expires_at IS NULL OR expires_at > now())
                   AND p_origin = ANY (allowed_origins))
$$
"""


def _function(sql: str, signature: str) -> None:
    op.execute(sql)
    op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")


def upgrade() -> None:
    for stmt in TABLES:
        op.execute(stmt)
    for stmt in tenant_rls("persisted_documents"):
        op.execute(stmt)
    op.execute(grant_app("persisted_documents", "SELECT, INSERT, UPDATE, DELETE"))
    _function(CORS_ORIGINS, "app_cors_origins(bytea)")
    _function(ORIGIN_KNOWN, "app_origin_known(varchar)")


def downgrade() -> None:
    op.execute("DROP FUNCTION app_origin_known(varchar)")
    op.execute("DROP FUNCTION app_cors_origins(bytea)")
    op.execute("DROP TABLE persisted_documents")
    op.execute("ALTER TABLE tenants DROP COLUMN visitor_url")
    op.execute("ALTER TABLE tenants DROP COLUMN cors_origins")
    op.execute("DELETE FROM api_tokens WHERE kind = 'visitor'")
    op.execute("ALTER TABLE api_tokens DROP CONSTRAINT ck_api_tokens_visitor")
    op.execute("ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_kind_check")
    op.execute(
        "ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_kind_check "
        "CHECK (kind IN ('member', 'partner', 'widget', 'subject'))"
    )
