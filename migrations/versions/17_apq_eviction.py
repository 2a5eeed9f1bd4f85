"""Automatic persisted queries bounded per tenant: `persisted_documents.last_used_at`.

Any member could store documents through Apollo's automatic protocol without limit (1,500
in 28 s in an audit). The application now keeps a tenant's most recently used automatic
documents up to a cap and evicts the rest (microspace/web/persisted.py); this column is
the order, and the partial index serves the eviction. Trusted documents are not in it.
Rows already stored take their registration time as last use; a tenant over the cap is
brought down to it by its next registration.

Revision ID: 0019
Revises: 0018
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

UP = [
    "ALTER TABLE persisted_documents ADD COLUMN last_used_at timestamptz NOT NULL DEFAULT now()",
    "UPDATE persisted_documents SET last_used_at = created_at",
    """CREATE INDEX ix_persisted_documents_automatic
        ON persisted_documents (tenant_id, last_used_at) WHERE NOT trusted""",
]


def upgrade() -> None:
    for statement in UP:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP INDEX ix_persisted_documents_automatic")
    op.execute("ALTER TABLE persisted_documents DROP COLUMN last_used_at")
