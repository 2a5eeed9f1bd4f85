"""Downloads in usage analytics: `usage_events.action`, a view (every row so far) or a
download of a file block, recorded like a view only under the contact's analytics consent.

Revision ID: 0032
Revises: 0031
"""

from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE usage_events ADD COLUMN action varchar(16) NOT NULL DEFAULT 'view' "
        "CONSTRAINT usage_events_action_check CHECK (action IN ('view', 'download'))"
    )


def downgrade() -> None:
    # the older code counts every row as a view: a download must not pass for one
    op.execute("DELETE FROM usage_events WHERE action = 'download'")
    op.execute("ALTER TABLE usage_events DROP COLUMN action")
