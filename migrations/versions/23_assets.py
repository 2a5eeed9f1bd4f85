"""Files and images: the asset library (`assets`), and the plan's storage limits.

An asset's bytes live in storage (files/storage.py) under `storage_key`, a tenant-prefixed
key; its variants (image sizes and formats) are keys derived from it, listed in `variants`.
`contact_id` links an asset to the contact it is about (a contract for one client): their
export includes it and their erasure deletes it, bytes and variants. An upload by URL is
`pending` until its `complete` mutation checks the bytes.

Revision ID: 0025
Revises: 0024
"""

from alembic import op

from migrations.rls import grant_app, tenant_rls

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

UP = [
    """
    CREATE TABLE assets (
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        id uuid NOT NULL,
        state varchar(16) NOT NULL DEFAULT 'ready' CHECK (state IN ('pending', 'ready')),
        kind varchar(16) NOT NULL
            CHECK (kind IN ('image', 'video', 'audio', 'document', 'other')),
        name varchar(255) NOT NULL CHECK (length(name) >= 1),
        media_type varchar(127) NOT NULL,
        byte_size bigint NOT NULL CHECK (byte_size >= 0),
        width integer CHECK (width > 0),
        height integer CHECK (height > 0),
        sha256 bytea,
        storage_key text NOT NULL,
        variants jsonb NOT NULL DEFAULT '{}'::jsonb,
        details jsonb NOT NULL DEFAULT '{}'::jsonb,
        contact_id uuid,
        created_by uuid,
        expires_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id, storage_key),
        FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id)
            ON DELETE SET NULL (contact_id),
        CHECK (state = 'ready' OR expires_at IS NOT NULL)
    )
    """,
    "CREATE INDEX ix_assets_library ON assets (tenant_id, created_at DESC, id DESC)",
    "CREATE INDEX ix_assets_contact ON assets (tenant_id, contact_id) WHERE contact_id IS NOT NULL",
    "CREATE INDEX ix_assets_pending ON assets (expires_at) WHERE state = 'pending'",
    # per-tenant file rules, set by the operator with the other limits (`plan-set`)
    "ALTER TABLE tenant_plans ADD COLUMN max_storage_bytes bigint CHECK (max_storage_bytes >= 0)",
    "ALTER TABLE tenant_plans ADD COLUMN max_file_bytes bigint CHECK (max_file_bytes >= 0)",
    "ALTER TABLE tenant_plans ADD COLUMN allowed_media_types text[]",
]


def upgrade() -> None:
    for statement in UP:
        op.execute(statement)
    for statement in tenant_rls("assets"):
        op.execute(statement)
    op.execute(grant_app("assets"))


def downgrade() -> None:
    op.execute("DROP TABLE assets")
    for column in ("max_storage_bytes", "max_file_bytes", "allowed_media_types"):
        op.execute(f"ALTER TABLE tenant_plans DROP COLUMN {column}")
