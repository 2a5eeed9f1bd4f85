"""Foundation: tenants, members, tokens, spaces, blocks; RLS on every tenant table.

Revision ID: 0001
Revises:
"""

from alembic import op

from migrations.rls import APP_ROLE, grant_app, tenant_rls

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = """
CREATE TABLE tenants (
    id uuid PRIMARY KEY,
    name varchar(200) NOT NULL,
    subscription_status varchar(20) NOT NULL DEFAULT 'active'
        CHECK (subscription_status IN ('active', 'ended')),
    subscription_ends_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE members (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    email varchar(320) NOT NULL,
    role varchar(32) NOT NULL
        CHECK (role IN ('owner', 'admin', 'editor', 'viewer', 'privacy_officer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);
CREATE TABLE api_tokens (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    kind varchar(16) NOT NULL CHECK (kind IN ('member', 'partner', 'widget', 'subject')),
    name varchar(200) NOT NULL DEFAULT '',
    token_hash bytea NOT NULL UNIQUE,
    member_id uuid,
    scopes varchar(64)[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id) ON DELETE CASCADE,
    CHECK (kind <> 'member' OR member_id IS NOT NULL)
);
CREATE TABLE spaces (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    title varchar(200) NOT NULL,
    slug varchar(100) NOT NULL,
    description text NOT NULL DEFAULT '',
    status varchar(16) NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'published', 'archived')),
    published_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, slug)
);
CREATE INDEX ix_spaces_listing ON spaces (tenant_id, created_at DESC, id DESC);
CREATE TABLE blocks (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    space_id uuid NOT NULL,
    kind varchar(32) NOT NULL
        CHECK (kind IN ('heading', 'rich_text', 'link', 'file', 'video', 'embed', 'checklist')),
    position integer NOT NULL CHECK (position >= 0),
    body jsonb NOT NULL CHECK (jsonb_typeof(body) = 'object'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, space_id) REFERENCES spaces (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX ix_blocks_space_position ON blocks (tenant_id, space_id, position, id);
"""

# NULLIF: after a transaction-local setting ends the value is '' rather than NULL; both
# must mean "no tenant" (zero rows), never an error or a match.
CURRENT_TENANT = """
CREATE FUNCTION app_current_tenant() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;
"""

# Runs as the owner so a request can find its token before it knows its tenant; it
# returns only the row of one valid, unrevoked token hash.
AUTHENTICATE = """
CREATE FUNCTION app_authenticate(p_token_hash bytea)
RETURNS TABLE (token_id uuid, tenant_id uuid, kind varchar, member_id uuid,
               role varchar, scopes varchar[])
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT t.id, t.tenant_id, t.kind, t.member_id, m.role, t.scopes
    FROM api_tokens t
    JOIN tenants tn ON tn.id = t.tenant_id
    LEFT JOIN members m ON m.tenant_id = t.tenant_id AND m.id = t.member_id
    WHERE t.token_hash = p_token_hash AND t.revoked_at IS NULL
$$;
"""

TENANT_TABLES = ["members", "api_tokens", "spaces", "blocks"]


def upgrade() -> None:
    for stmt in TABLES.split(";"):
        if stmt.strip():
            op.execute(stmt)
    op.execute(CURRENT_TENANT)
    op.execute(AUTHENTICATE)
    op.execute("REVOKE ALL ON FUNCTION app_authenticate(bytea) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION app_authenticate(bytea) TO {APP_ROLE}")
    for stmt in tenant_rls("tenants", column="id"):
        op.execute(stmt)
    op.execute(grant_app("tenants", "SELECT, UPDATE"))
    for table in TENANT_TABLES:
        for stmt in tenant_rls(table):
            op.execute(stmt)
        op.execute(grant_app(table))
    # token lookup happens before a tenant is known: the owner (running app_authenticate)
    # may read these three tables whole; the application role never can
    for table in ("tenants", "members", "api_tokens"):
        op.execute(
            f"DO $$ BEGIN EXECUTE format('CREATE POLICY owner_token_lookup ON {table} "
            f"FOR SELECT TO %I USING (true)', current_user); END $$"
        )


def downgrade() -> None:
    op.execute("DROP FUNCTION app_authenticate(bytea)")
    for table in reversed(["tenants", *TENANT_TABLES]):
        op.execute(f"DROP TABLE {table} CASCADE")
    op.execute("DROP FUNCTION app_current_tenant()")
