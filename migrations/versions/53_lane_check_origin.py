"""A browser's lane write checks its Origin in the lane's one credential check.

A lane write with a cross-origin `Origin` passed its function the token hash only when
`origin = ANY(app_cors_origins(hash))` (microspace/lane/lane.py `_credential`): a second
token lookup, in a function with the owner's rights and its own `search_path`, for every
browser write (q3 with `Origin`: 1.26x a plain write's CPU on the shared bench). Now the
lane appends the origin to the principal it sends (`p_who`, a seventh element), and
`app_lane_check` appends it to the principal it builds from each match only when that
credential allows it, by the one allow-list (`app_token_origins`, migration 0051, which
`app_cors_origins` and `app_lane_scope` read): a refused origin builds a principal of six
elements, which is not `p_who`, so nothing is written and the whole way refuses the origin
as before. A `p_who` of six elements (no origin) compares as before.

Revision ID: 0055
Revises: 0054
"""

from alembic import op

from migrations.revisions import by_revision

revision = "0055"
down_revision = "0054"
branch_labels = None
depends_on = None

SCOPES = "ELSE to_jsonb(coalesce(a.scopes, ARRAY[]::varchar[])) END)"
# the request's origin, when `p_who` names one and this credential allows it
ORIGIN = """ELSE to_jsonb(coalesce(a.scopes, ARRAY[]::varchar[])) END)
                   || CASE WHEN p_who ->> 6 = ANY (public.app_token_origins(
                                    a.kind, a.tenant_id, a.allowed_origins, t.cors_origins))
                           THEN jsonb_build_array(p_who ->> 6) ELSE '[]'::jsonb END"""


def _lane_check() -> str:
    text: str = by_revision("0053").LANE_CHECK
    assert text.count(SCOPES) == 1
    return text.replace(SCOPES, ORIGIN)


LANE_CHECK = _lane_check()


def upgrade() -> None:
    op.execute(LANE_CHECK)


def downgrade() -> None:
    op.execute(by_revision("0053").LANE_CHECK)
