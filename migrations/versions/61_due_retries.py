"""A schedule or personalisation job that fails waits before it is tried again.

The worker carries out what falls due on every pass (microspace/jobs/due.py). One that
raised stayed due and was tried again on the very next pass, forever: its error logged every
few seconds, and, the listings being ordered and limited, a batch's worth of failing items
kept every later one from ever being listed. Now a failure is counted on its row, in a
transaction of its own, and the row is listed again only after a wait that doubles with
each failure, from 30 seconds up to an hour. Nothing is given up: an item that stops failing
(a deploy fixed it, a lock went away) is carried out on its next try.

- `space_schedules`, `personalisation_jobs`: `attempts` (failures so far) and `retry_at`
  (listed again from then; NULL: due as before).
- `app_schedules_due`, `app_personalisation_jobs_due`: a row waiting for its retry is not
  listed.

Revision ID: 0063
Revises: 0062
"""

from alembic import op

from migrations.revisions import by_revision

revision = "0063"
down_revision = "0062"
branch_labels = None
depends_on = None

TABLES = ("space_schedules", "personalisation_jobs")


def _replaceable(function: str) -> str:
    assert function.count("CREATE FUNCTION") == 1
    return function.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")


def _replaced(function: str, old: str, new: str) -> str:
    assert function.count(old) == 1, old
    return _replaceable(function).replace(old, new)


# as migrations 0038 and 0044 wrote them
SCHEDULES_DUE_BEFORE = _replaceable(by_revision("0038").DUE)
JOBS_DUE_BEFORE = _replaceable(by_revision("0044").DUE)
SCHEDULES_DUE = _replaced(
    by_revision("0038").DUE,
    "WHERE s.done_at IS NULL AND s.run_at <= now()",
    "WHERE s.done_at IS NULL AND s.run_at <= now()\n      AND (s.retry_at IS NULL OR s.retry_at <= now())",
)
JOBS_DUE = _replaced(
    by_revision("0044").DUE,
    "WHERE j.state = 'queued'",
    "WHERE j.state = 'queued' AND (j.retry_at IS NULL OR j.retry_at <= now())",
)


def upgrade() -> None:
    for table in TABLES:
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN attempts integer NOT NULL DEFAULT 0, "
            "ADD COLUMN retry_at timestamptz"
        )
    op.execute(SCHEDULES_DUE)
    op.execute(JOBS_DUE)


def downgrade() -> None:
    op.execute(JOBS_DUE_BEFORE)
    op.execute(SCHEDULES_DUE_BEFORE)
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN retry_at, DROP COLUMN attempts")
