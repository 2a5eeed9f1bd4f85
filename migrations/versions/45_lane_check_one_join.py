"""The lane's credential check joins the tenant once (bench/README.md, q3).

`app_lane_check` (migration 0021) read the token through `app_token_check`, which joins the
token's tenant (its policy version), and joined the tenant again for its subscription's end.
Under row-level security both are the one tenant the transaction is scoped to. Now the
check reads the match (`app_token_match`, still the one match) with the tenant and the
member once, as `app_token_check` does, and takes the policy version and the subscription
from that one row: 3.5 % of the instructions of a `blockUpdate` statement. The answer is
the same: exactly one token of `p_tenant` for the principal `p_who`, and whether the
tenant's subscription has ended.

Revision ID: 0047
Revises: 0046
"""

from alembic import op

from migrations.revisions import by_revision

revision = "0047"
down_revision = "0046"
branch_labels = None
depends_on = None

LANE_CHECK = f"""
CREATE OR REPLACE FUNCTION app_lane_check(p_tenant uuid, p_who jsonb, p_token_hash bytea)
RETURNS TABLE (same boolean, ended boolean)
LANGUAGE sql STABLE SECURITY INVOKER ROWS 1
AS $$
    SELECT coalesce(count(*) = 1 AND bool_and(jsonb_build_array(
               a.id, a.kind, a.member_id, a.contact_id, t.policy_version,
               CASE WHEN a.kind = 'member'
                    THEN CASE WHEN coalesce(m.role, '') = '' THEN '[]'::jsonb
                              ELSE jsonb_build_array(m.role) END
                    ELSE to_jsonb(coalesce(a.scopes, ARRAY[]::varchar[])) END) = p_who), false),
           coalesce(bool_or({by_revision("0020").ENDED}), false)
      FROM public.app_token_match(p_token_hash) AS a
      JOIN public.tenants t ON t.id = a.tenant_id
      LEFT JOIN public.members m ON m.tenant_id = a.tenant_id AND m.id = a.member_id
     WHERE a.tenant_id = p_tenant
$$
"""


def upgrade() -> None:
    op.execute(LANE_CHECK)


def downgrade() -> None:
    op.execute(
        by_revision("0021").LANE_CHECK.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    )
