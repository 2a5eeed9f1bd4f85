"""Scheduled publishing: `space_schedules`, one pending publish and one pending unpublish
per space at most, carried out by the worker exactly once.

- `app_schedules_due` (the owner's rights, like `app_outbox_due`) lists the keys of due
  schedules of every tenant and nothing else; the worker handles each in a transaction of
  its tenant, under row-level security.
- The worker claims a schedule with `FOR UPDATE SKIP LOCKED` and marks it done in the
  transaction that publishes: a second worker skips it while it is held, and a worker that
  dies before its commit leaves it pending again.
- `app_schedule_vouch` lets the audit chain name, for a scheduled publish, the principal who
  set the schedule (authenticated then), and only in the transaction that has just marked
  that schedule done (xmin), as `audit_vouch_one_click` does for a one-click unsubscribe.

Revision ID: 0038
Revises: 0037
"""

from alembic import op

from migrations.rls import APP_ROLE, grant_app, tenant_rls

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None

TABLE = """
CREATE TABLE space_schedules (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    space_id uuid NOT NULL,
    action varchar(16) NOT NULL CHECK (action IN ('publish', 'unpublish')),
    run_at timestamptz NOT NULL,
    -- who set it (a member's id, or a key's): named by the audit entry of the publish
    created_by_kind varchar(16) NOT NULL,
    created_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    done_at timestamptz,
    -- published, unpublished, or why nothing was done (archived, not published)
    outcome varchar(32),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, space_id) REFERENCES spaces (tenant_id, id) ON DELETE CASCADE
)
"""
INDEXES = [
    # one pending schedule of each action per space
    (
        "CREATE UNIQUE INDEX uq_space_schedules_pending ON space_schedules "
        "(tenant_id, space_id, action) WHERE done_at IS NULL"
    ),
    "CREATE INDEX ix_space_schedules_due ON space_schedules (run_at) WHERE done_at IS NULL",
]

DUE = """
CREATE FUNCTION app_schedules_due(p_limit integer)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT s.tenant_id, s.id FROM space_schedules s
    WHERE s.done_at IS NULL AND s.run_at <= now()
    ORDER BY s.run_at
    LIMIT least(greatest(p_limit, 0), 1000)
$$
"""

VOUCH = """
CREATE FUNCTION app_schedule_vouch(p_schedule uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    v_tenant uuid := app_current_tenant();
    v_claim text;
BEGIN
    SELECT s.tenant_id || ':' || s.created_by_kind || ':' || s.created_by INTO v_claim
    FROM space_schedules s
    WHERE s.tenant_id = v_tenant AND s.id = p_schedule AND s.done_at IS NOT NULL
      AND s.xmin = pg_current_xact_id()::xid;
    IF v_tenant IS NULL OR v_claim IS NULL THEN
        RAISE EXCEPTION 'app_schedule_vouch needs a schedule done in this transaction'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config(
        'app.principal', v_claim || ':' || audit_principal_signature(v_claim), true
    );
END
$$
"""


def upgrade() -> None:
    op.execute(TABLE)
    for statement in INDEXES + tenant_rls("space_schedules"):
        op.execute(statement)
    op.execute(grant_app("space_schedules"))
    # FORCE holds the owner to the tenant policy too; app_schedules_due (run as the owner)
    # may read due rows of every tenant, and nothing else may
    op.execute(
        "DO $$ BEGIN EXECUTE format('CREATE POLICY owner_schedules_due ON space_schedules "
        "FOR SELECT TO %I USING (true)', current_user); END $$"
    )
    for sql, signature in (
        (DUE, "app_schedules_due(integer)"),
        (VOUCH, "app_schedule_vouch(uuid)"),
    ):
        op.execute(sql)
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION app_schedule_vouch(uuid)")
    op.execute("DROP FUNCTION app_schedules_due(integer)")
    op.execute("DROP TABLE space_schedules")
