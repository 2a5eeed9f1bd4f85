"""Personalisation jobs run in the worker (docs/content.md "Templates and personalised
spaces"): `spacePersonalise` queues a job, the worker carries it out.

- `personalisation_jobs` keeps what the worker needs: `follow_template`, `invite`, and who
  asked (`requested_by_kind`, `requested_by_principal`: a member's or a key's id, for the
  audit entries of the publish); a job waits `queued`; `failure` says why one failed.
- `personalisation_job_contacts`: the contacts a queued job is for, deleted when the job is
  carried out. A contact's rows go with their erasure (models/personalisation.py declares
  it), so a job never makes a space for a contact erased while it waited.
- `app_personalisation_jobs_due` (the owner's rights, like `app_schedules_due`) lists the
  keys of queued jobs of every tenant and nothing else; the worker claims each with
  `FOR UPDATE SKIP LOCKED` in a transaction of its tenant, and marks it done in the
  transaction that makes the spaces: exactly once, a crash leaves it queued.
- `app_personalisation_vouch` lets the audit chain name the principal who queued the job
  (authenticated then), only in the transaction that has just claimed it (xmin), as
  `app_schedule_vouch` does for a schedule.

Revision ID: 0044
Revises: 0043
"""

from alembic import op

from migrations.rls import APP_ROLE, grant_app, tenant_rls

revision = "0044"
down_revision = "0043"
branch_labels = None
depends_on = None

JOBS = """
ALTER TABLE personalisation_jobs
    ADD COLUMN follow_template boolean NOT NULL DEFAULT true,
    ADD COLUMN invite boolean NOT NULL DEFAULT true,
    ADD COLUMN requested_by_kind varchar(16),
    ADD COLUMN requested_by_principal uuid,
    ADD COLUMN failure varchar(32),
    DROP CONSTRAINT personalisation_jobs_state_check,
    ADD CONSTRAINT personalisation_jobs_state_check
        CHECK (state IN ('queued', 'running', 'completed', 'failed')),
    ALTER COLUMN state SET DEFAULT 'queued'
"""

CONTACTS = """
CREATE TABLE personalisation_job_contacts (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    job_id uuid NOT NULL,
    contact_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, job_id, contact_id),
    FOREIGN KEY (tenant_id, job_id) REFERENCES personalisation_jobs (tenant_id, id)
        ON DELETE CASCADE,
    -- erasure deletes them first (their SubjectLink); this is the backstop
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
)
"""
INDEXES = [
    (
        "CREATE INDEX ix_personalisation_job_contacts_contact "
        "ON personalisation_job_contacts (tenant_id, contact_id)"
    ),
    (
        "CREATE INDEX ix_personalisation_jobs_queued ON personalisation_jobs (created_at) "
        "WHERE state = 'queued'"
    ),
]

DUE = """
CREATE FUNCTION app_personalisation_jobs_due(p_limit integer)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT j.tenant_id, j.id FROM personalisation_jobs j
    WHERE j.state = 'queued'
    ORDER BY j.created_at
    LIMIT least(greatest(p_limit, 0), 1000)
$$
"""

VOUCH = """
CREATE FUNCTION app_personalisation_vouch(p_job uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    v_tenant uuid := app_current_tenant();
    v_claim text;
BEGIN
    SELECT j.tenant_id || ':' || j.requested_by_kind || ':' || j.requested_by_principal
      INTO v_claim
      FROM personalisation_jobs j
     WHERE j.tenant_id = v_tenant AND j.id = p_job AND j.state = 'running'
       AND j.xmin = pg_current_xact_id()::xid;
    IF v_tenant IS NULL OR v_claim IS NULL THEN
        RAISE EXCEPTION 'app_personalisation_vouch needs a job claimed in this transaction'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config(
        'app.principal', v_claim || ':' || audit_principal_signature(v_claim), true
    );
END
$$
"""


def upgrade() -> None:
    op.execute(JOBS)
    op.execute(CONTACTS)
    for statement in INDEXES + tenant_rls("personalisation_job_contacts"):
        op.execute(statement)
    op.execute(grant_app("personalisation_job_contacts", "SELECT, INSERT, DELETE"))
    op.execute(grant_app("personalisation_jobs", "SELECT, INSERT, UPDATE"))
    # FORCE holds the owner to the tenant policy too; app_personalisation_jobs_due (run as
    # the owner) may read queued jobs of every tenant, and nothing else may
    op.execute(
        "DO $$ BEGIN EXECUTE format('CREATE POLICY owner_personalisation_due "
        "ON personalisation_jobs FOR SELECT TO %I USING (true)', current_user); END $$"
    )
    for sql, signature in (
        (DUE, "app_personalisation_jobs_due(integer)"),
        (VOUCH, "app_personalisation_vouch(uuid)"),
    ):
        op.execute(sql)
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION app_personalisation_vouch(uuid)")
    op.execute("DROP FUNCTION app_personalisation_jobs_due(integer)")
    op.execute("DROP POLICY owner_personalisation_due ON personalisation_jobs")
    op.execute("DROP TABLE personalisation_job_contacts")
    # the queued jobs of every tenant (the owner is held to row-level security)
    op.execute("ALTER TABLE personalisation_jobs NO FORCE ROW LEVEL SECURITY")
    op.execute("UPDATE personalisation_jobs SET state = 'failed' WHERE state = 'queued'")
    op.execute("ALTER TABLE personalisation_jobs FORCE ROW LEVEL SECURITY")
    op.execute(
        """ALTER TABLE personalisation_jobs
            ALTER COLUMN state SET DEFAULT 'running',
            DROP CONSTRAINT personalisation_jobs_state_check,
            ADD CONSTRAINT personalisation_jobs_state_check
                CHECK (state IN ('running', 'completed', 'failed')),
            DROP COLUMN failure, DROP COLUMN requested_by_principal,
            DROP COLUMN requested_by_kind, DROP COLUMN invite, DROP COLUMN follow_template"""
    )
