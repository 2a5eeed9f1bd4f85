"""Privacy promises: member profiles, tenant profile, sign-in records, plans, account
deletion codes by e-mail, the erasure journal, one-click opt-out as a consent source.

Revision ID: 0010
Revises: 0008 (0004 when proposed; chained after the migrations merged since)
"""

from alembic import op

from migrations.rls import APP_ROLE, grant_app, tenant_rls

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None

STATEMENTS = [
    "ALTER TABLE members ADD COLUMN full_name varchar(200)",
    "ALTER TABLE members ADD COLUMN company varchar(200)",
    "ALTER TABLE members ADD COLUMN address text CHECK (length(address) <= 1000)",
    """
    CREATE TABLE tenant_profiles (
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        id uuid NOT NULL,
        company_name varchar(200),
        billing_contact_name varchar(200),
        billing_email varchar(320),
        billing_address text CHECK (length(billing_address) <= 1000),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id)
    )
    """,
    """
    CREATE TABLE sign_ins (
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        id uuid NOT NULL,
        member_id uuid,
        contact_id uuid,
        token_id uuid,
        occurred_at timestamptz NOT NULL DEFAULT now(),
        user_agent_family varchar(32),
        network varchar(64),
        PRIMARY KEY (tenant_id, id),
        FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id) ON DELETE CASCADE,
        FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE,
        CHECK (member_id IS NOT NULL OR contact_id IS NOT NULL)
    )
    """,
    "CREATE INDEX ix_sign_ins_member ON sign_ins (tenant_id, member_id, occurred_at DESC)",
    "CREATE INDEX ix_sign_ins_contact ON sign_ins (tenant_id, contact_id, occurred_at DESC)",
    "CREATE INDEX ix_sign_ins_token ON sign_ins (tenant_id, token_id, occurred_at DESC)",
    "CREATE INDEX ix_sign_ins_age ON sign_ins (occurred_at)",
    """
    CREATE TABLE tenant_plans (
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        id uuid NOT NULL,
        name varchar(64) NOT NULL,
        max_spaces integer CHECK (max_spaces >= 0),
        max_contacts integer CHECK (max_contacts >= 0),
        max_emails_per_month integer CHECK (max_emails_per_month >= 0),
        max_api_keys integer CHECK (max_api_keys >= 0),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id)
    )
    """,
    """
    CREATE TABLE account_deletions (
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        id uuid NOT NULL,
        requested_by uuid,
        code_hash bytea NOT NULL,
        expires_at timestamptz NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        confirmed_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, id)
    )
    """,
    """
    CREATE TABLE erasure_journal (
        tenant_id uuid NOT NULL,
        id uuid NOT NULL,
        kind varchar(16) NOT NULL CHECK (kind IN ('contact', 'member', 'tenant')),
        subject_id uuid,
        email_hash bytea,
        erased_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (tenant_id, id),
        UNIQUE NULLS NOT DISTINCT (tenant_id, kind, subject_id, email_hash)
    )
    """,
    "CREATE INDEX ix_erasure_journal_time ON erasure_journal (erased_at)",
    # account deletion codes go to members through the outbox (member e-mail: 0006)
    "ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_kind_check",
    """ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN
       ('space_invitation', 'space_updated', 'marketing', 'subject_verification',
        'webhook_failing', 'subject_link', 'account_deletion'))""",
    "ALTER TABLE consent_events DROP CONSTRAINT IF EXISTS consent_events_source_check",
    """ALTER TABLE consent_events ADD CONSTRAINT consent_events_source_check CHECK (source IN
       ('form', 'widget', 'api', 'import', 'one_click'))""",
]

# As in 0004, plus: a tenant whose owners confirmed the deletion of the whole account may
# empty its ledgers (the purge runs in the confirming request, as the application role).
ERASE_LEDGER = f"""
CREATE OR REPLACE FUNCTION app_erase_ledger(p_contact uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    IF session_user = '{APP_ROLE}' AND NOT EXISTS (
        SELECT 1 FROM subject_requests r
        WHERE r.tenant_id = app_current_tenant() AND r.kind = 'erasure'
          AND r.state = 'processing' AND p_contact = ANY (r.contact_ids)
    ) AND NOT EXISTS (
        SELECT 1 FROM account_deletions d
        WHERE d.tenant_id = app_current_tenant() AND d.confirmed_at IS NOT NULL
    ) THEN
        RAISE EXCEPTION 'no erasure in progress for this contact'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM consent_events WHERE tenant_id = app_current_tenant() AND contact_id = p_contact;
    DELETE FROM emails_sent WHERE tenant_id = app_current_tenant() AND contact_id = p_contact;
END
$$
"""

GRANTS = {
    "tenant_profiles": "SELECT, INSERT, UPDATE",
    "sign_ins": "SELECT, INSERT, DELETE",
    "tenant_plans": "SELECT",
    "account_deletions": "SELECT, INSERT, UPDATE",
    # append-only for the application: a journal entry is never changed or removed
    "erasure_journal": "SELECT, INSERT",
}


def upgrade() -> None:
    for stmt in STATEMENTS:
        op.execute(stmt)
    for table, privileges in GRANTS.items():
        for stmt in tenant_rls(table):
            op.execute(stmt)
        op.execute(grant_app(table, privileges))
    op.execute(ERASE_LEDGER)


def downgrade() -> None:
    op.execute("DROP TABLE " + ", ".join(GRANTS) + " CASCADE")
    op.execute("DELETE FROM outbox WHERE kind = 'account_deletion'")
    op.execute("ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check")
    op.execute(
        "ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('space_invitation', "
        "'space_updated', 'marketing', 'subject_verification', 'webhook_failing', "
        "'subject_link'))"
    )
    for column in ("full_name", "company", "address"):
        op.execute(f"ALTER TABLE members DROP COLUMN {column}")
