"""After the subscription ends: the fast lane's write refuses, and every cache of the tenant's
state sees the change on its next request.

`app_lane_block_update` (migrations 0013, 0015) writes nothing for a tenant whose
subscription has ended (docs/privacy.md "After the subscription ends"): it returns its
credential row with no block, and the whole way answers `SUBSCRIPTION_ENDED`. The check is
one index lookup on `tenants` inside the statement, no round trip.

A change of `subscription_status` or `subscription_ends_at` bumps `tenants.policy_version`,
whoever writes it (an operator's SQL, billing, account deletion): the version comes back
with every token lookup, so the processes' caches keyed by it (the subscription state
store/subscription_end.py keeps, the fast lane's remembered principals) are stale on the
very next request, with no query of their own.

Revision ID: 0020
Revises: 0019
"""

from alembic import op

from migrations.revisions import by_revision

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# the rule, as store/subscription_end.py `Subscription.ended_at` states it
ENDED = (
    "t.subscription_status = 'ended' "
    "AND (t.subscription_ends_at IS NULL OR t.subscription_ends_at <= now())"
)

LANE_BLOCK_UPDATE = f"""
CREATE OR REPLACE FUNCTION app_lane_block_update(
    p_tenant uuid, p_id uuid, p_kinds text[], p_bodies jsonb[], p_event jsonb,
    p_who jsonb, p_token_hash bytea)
RETURNS TABLE (same boolean, block blocks)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER ROWS 1
AS $$
DECLARE
    v_tenant text;
    v_who jsonb;
    v_block blocks;
BEGIN
    -- for this transaction only: the statement that called us is its own transaction
    v_tenant := set_config('app.tenant_id', p_tenant::text, true);
    SELECT jsonb_agg(jsonb_build_array(
               a.token_id, a.kind, a.member_id, a.contact_id, a.policy_version,
               CASE WHEN a.kind = 'member'
                    THEN CASE WHEN coalesce(a.role, '') = '' THEN '[]'::jsonb
                              ELSE jsonb_build_array(a.role) END
                    ELSE to_jsonb(coalesce(a.scopes, ARRAY[]::varchar[])) END))
      INTO v_who
      FROM app_token_check(p_token_hash) AS a;
    IF v_who IS DISTINCT FROM jsonb_build_array(p_who) THEN
        same := false;
        RETURN NEXT;
        RETURN;
    END IF;
    same := true;
    -- the subscription ended (by the clock too, with no write to bump a version): no
    -- block, the whole way answers SUBSCRIPTION_ENDED
    IF NOT EXISTS (SELECT FROM tenants t WHERE t.id = p_tenant AND {ENDED}) THEN
        SELECT * INTO v_block FROM app_block_update(p_tenant, p_id, p_kinds, p_bodies, p_event);
        block := v_block;
    END IF;
    RETURN NEXT;
END
$$
"""

BUMP = """
CREATE FUNCTION app_subscription_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER
AS $$
BEGIN
    -- an UPDATE that bumps the version itself (account deletion) is bumped once
    NEW.policy_version := greatest(NEW.policy_version, OLD.policy_version + 1);
    RETURN NEW;
END
$$
"""

TRIGGER = """
CREATE TRIGGER tenants_subscription_changed
BEFORE UPDATE OF subscription_status, subscription_ends_at ON tenants
FOR EACH ROW
WHEN (OLD.subscription_status IS DISTINCT FROM NEW.subscription_status
      OR OLD.subscription_ends_at IS DISTINCT FROM NEW.subscription_ends_at)
EXECUTE FUNCTION app_subscription_changed()
"""


def upgrade() -> None:
    op.execute(LANE_BLOCK_UPDATE)
    op.execute(BUMP)
    op.execute(TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER tenants_subscription_changed ON tenants")
    op.execute("DROP FUNCTION app_subscription_changed()")
    op.execute(by_revision("0015").LANE_BLOCK_UPDATE)
