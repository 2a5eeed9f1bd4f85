"""The lane's credential check reads a member's role only for a member's token.

`app_lane_check` (migration 0050) joined `members` to every match; a member's role now comes
from a subquery in the member branch of the principal it builds (no member: no role, `[]`,
as the outer join gave): one join fewer in the plan. Instructions per `blockUpdate`
statement (bench/README.md, q3, the same method): 746.5 k -> 732.3 k (-2 %). The same
answer: exactly one token of the tenant matching the hash, which is the principal `p_who`.

Revision ID: 0053
Revises: 0052
"""

from alembic import op

from migrations.revisions import by_revision

revision = "0053"
down_revision = "0052"
branch_labels = None
depends_on = None

ROLE_JOINED = """CASE WHEN coalesce(m.role, '') = '' THEN '[]'::jsonb
                                  ELSE jsonb_build_array(m.role) END"""
ROLE_READ = """coalesce((
                            SELECT CASE WHEN coalesce(m.role, '') = '' THEN '[]'::jsonb
                                        ELSE jsonb_build_array(m.role) END
                              FROM public.members m
                             WHERE m.tenant_id = a.tenant_id AND m.id = a.member_id),
                            '[]'::jsonb)"""
MEMBER_JOIN = """
                 LEFT JOIN public.members m ON m.tenant_id = a.tenant_id AND m.id = a.member_id"""


def _lane_check() -> str:
    text: str = by_revision("0050").LANE_CHECK
    for old, new in ((ROLE_JOINED, ROLE_READ), (MEMBER_JOIN, "")):
        assert text.count(old) == 1
        text = text.replace(old, new)
    return text


LANE_CHECK = _lane_check()


def upgrade() -> None:
    op.execute(LANE_CHECK)


def downgrade() -> None:
    op.execute(by_revision("0050").LANE_CHECK)
