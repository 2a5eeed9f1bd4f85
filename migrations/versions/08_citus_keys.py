"""Keys ready for distribution by tenant: token hashes are unique within their tenant.

Citus enforces a unique constraint only when it includes the distribution column. A token
hash is the SHA-256 of at least 128 random bits, so two tenants never share one; looking a
token up by its hash alone keeps a plain index (on Citus, a query across shards).

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_token_hash_key")
    op.execute(
        "ALTER TABLE api_tokens ADD CONSTRAINT uq_api_tokens_tenant_token_hash "
        "UNIQUE (tenant_id, token_hash)"
    )
    op.execute("CREATE INDEX ix_api_tokens_token_hash ON api_tokens (token_hash)")
    # a rotated key's previous hash, looked up the same way while its grace period runs
    op.execute("ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_previous_token_hash_key")
    op.execute(
        "ALTER TABLE api_tokens ADD CONSTRAINT uq_api_tokens_tenant_previous_token_hash "
        "UNIQUE (tenant_id, previous_token_hash)"
    )
    op.execute("CREATE INDEX ix_api_tokens_previous_token_hash ON api_tokens (previous_token_hash)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_api_tokens_previous_token_hash")
    op.execute("ALTER TABLE api_tokens DROP CONSTRAINT uq_api_tokens_tenant_previous_token_hash")
    op.execute(
        "ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_previous_token_hash_key "
        "UNIQUE (previous_token_hash)"
    )
    op.execute("DROP INDEX ix_api_tokens_token_hash")
    op.execute("ALTER TABLE api_tokens DROP CONSTRAINT uq_api_tokens_tenant_token_hash")
    op.execute(
        "ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash)"
    )
