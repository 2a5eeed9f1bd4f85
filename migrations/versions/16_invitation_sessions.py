"""One visitor session per space access: `api_tokens.space_access_id`.

Before, every opening of an invitation link minted another 30-day visitor session (a mail
scanner's fetch too), and nothing tied a session to the access it came from, so revoking
the access left its sessions working. Now a session names its access: at most one per
access (a unique index), handed a new secret when the link is opened again, revoked with
the access, deleted with it.

Revision ID: 0018
Revises: 0017
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

UP = [
    "ALTER TABLE api_tokens ADD COLUMN space_access_id uuid",
    """ALTER TABLE api_tokens ADD CONSTRAINT fk_api_tokens_space_access
        FOREIGN KEY (tenant_id, space_access_id) REFERENCES space_access (tenant_id, id)
        ON DELETE CASCADE""",
    """ALTER TABLE api_tokens ADD CONSTRAINT ck_api_tokens_space_access
        CHECK (space_access_id IS NULL OR kind = 'visitor')""",
    """CREATE UNIQUE INDEX uq_api_tokens_space_access ON api_tokens (tenant_id, space_access_id)
        WHERE space_access_id IS NOT NULL""",
]


def upgrade() -> None:
    for statement in UP:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP INDEX uq_api_tokens_space_access")
    op.execute("ALTER TABLE api_tokens DROP CONSTRAINT ck_api_tokens_space_access")
    op.execute("ALTER TABLE api_tokens DROP CONSTRAINT fk_api_tokens_space_access")
    op.execute("ALTER TABLE api_tokens DROP COLUMN space_access_id")
