"""An audit entry's subjects stored without a compression attempt.

`audit_log.subject_contact_ids` holds a read's subjects: 250 contacts in the bench's q2,
4 KB of random UUIDs, above the size at which PostgreSQL moves a value out of the row. With
the default storage (`extended`) every such INSERT first tries to compress the array with
pglz, which never succeeds on random bytes (the value is then stored out of line
uncompressed); `external` stores it out of line without trying. The same bytes are stored
and read; rows written before keep theirs. Instructions per `app_lane_audit` statement with
q2's entry (a private PostgreSQL under callgrind, bench data): 3.98 M -> 3.79 M.

Revision ID: 0054
Revises: 0053
"""

from alembic import op

revision = "0054"
down_revision = "0053"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE audit_log ALTER COLUMN subject_contact_ids SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.execute("ALTER TABLE audit_log ALTER COLUMN subject_contact_ids SET STORAGE EXTENDED")
