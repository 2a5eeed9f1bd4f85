"""A tenant's brand for its widgets: colours, font stack, logo URL, corner radius.

One JSONB document on the tenant (`brandUpdate` validates every key, resolvers/brand.py);
`{}` is the widget's own look.

Revision ID: 0030
Revises: 0029
"""

from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE tenants ADD COLUMN brand jsonb NOT NULL DEFAULT '{}'::jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE tenants DROP COLUMN brand")
