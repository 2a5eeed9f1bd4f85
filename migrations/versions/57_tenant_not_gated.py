"""The lane check's tenant and the announcement's follow tested without a node of their own.

Row-level security compares a table's tenant with the tenant the statement set
(`tenant_id = app_current_tenant()`). A query that also says `t.id = p_tenant` gives
PostgreSQL two equalities of one column, from which it derives `p_tenant =
app_current_tenant()` and tests it in a node above the scan (a Result with a one-time
filter), started and run in every statement. Written as `IS NOT DISTINCT FROM`, which
PostgreSQL derives nothing from, the same condition is a filter of the scan itself: the same
rows (neither side is NULL where it matters: a NULL `p_tenant` matched no tenant before
either), one node fewer.

- `app_lane_check`, `app_lane_check_plain` (migration 0057): the tenant's row by
  `t.id = app_current_tenant() AND t.id IS NOT DISTINCT FROM p_tenant`.
- `app_live_announce` (migration 0043): the follow by `f.tenant_id IS NOT DISTINCT FROM
  NEW.tenant_id`. The application role's lookup keeps row-level security's equality for an
  index (`live_follows_pkey`); the owner, whom row-level security does not restrict, scans
  the table's few rows (one per followed tenant and API process).

Instructions per `blockUpdate` statement (bench/README.md, q3, the same method, each run on a
fresh copy of one database): 703 k -> 690 k (-2 %).

Revision ID: 0059
Revises: 0058
"""

from alembic import op

from migrations.revisions import by_revision

revision = "0059"
down_revision = "0058"
branch_labels = None
depends_on = None

TENANT = "WHERE t.id = p_tenant AND t.id = public.app_current_tenant()"
# no node of its own above the scan (the module's docstring)
TENANT_FILTERED = "WHERE t.id = public.app_current_tenant() AND t.id IS NOT DISTINCT FROM p_tenant"
FOLLOW = "WHERE f.tenant_id = NEW.tenant_id AND"
FOLLOW_FILTERED = "WHERE f.tenant_id IS NOT DISTINCT FROM NEW.tenant_id AND"


def _replaced(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


LANE_CHECK = _replaced(by_revision("0057").LANE_CHECK, TENANT, TENANT_FILTERED)
LANE_CHECK_PLAIN = _replaced(by_revision("0057").LANE_CHECK_PLAIN, TENANT, TENANT_FILTERED)
ANNOUNCE = _replaced(by_revision("0043").ANNOUNCE, FOLLOW, FOLLOW_FILTERED)


def upgrade() -> None:
    op.execute(LANE_CHECK)
    op.execute(LANE_CHECK_PLAIN)
    op.execute(ANNOUNCE)


def downgrade() -> None:
    op.execute(by_revision("0043").ANNOUNCE)
    op.execute(by_revision("0057").LANE_CHECK_PLAIN)
    op.execute(by_revision("0057").LANE_CHECK)
