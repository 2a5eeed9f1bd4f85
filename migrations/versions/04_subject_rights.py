"""Subject requests, their trail, suppressions, domain events; subject tokens; retention.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from migrations.rls import APP_ROLE, grant_app, tenant_rls

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = [
    """
    CREATE TABLE subject_requests (
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        id uuid NOT NULL,
        kind varchar(16) NOT NULL CHECK (kind IN ('access', 'portability', 'correction', 'erasure')),
        subject_email varchar(320) NOT NULL,
        subject_hash bytea NOT NULL,
        contact_ids uuid[] NOT NULL DEFAULT '{}',
        state varchar(16) NOT NULL DEFAULT 'received' CHECK (state IN
            ('received', 'verifying', 'verified', 'processing', 'completed', 'rejected')),
        rejection_reason text,
        received_at timestamptz NOT NULL DEFAULT now(),
        due_at timestamptz NOT NULL,
        extended_at timestamptz,
        extension_reason text,
        verification_hash bytea,
        verified_by varchar(16),
        changes jsonb,
        progress varchar(64)[] NOT NULL DEFAULT '{}',
        completed_at timestamptz,
        created_by_kind varchar(16) NOT NULL,
        created_by uuid,
        PRIMARY KEY (tenant_id, id),
        CHECK (state <> 'rejected' OR rejection_reason IS NOT NULL)
    )
    """,
    "CREATE INDEX ix_subject_requests_listing ON subject_requests (tenant_id, received_at DESC, id DESC)",
    "CREATE INDEX ix_subject_requests_subject ON subject_requests (tenant_id, subject_hash)",
    """
    CREATE TABLE subject_request_events (
        tenant_id uuid NOT NULL,
        id uuid NOT NULL,
        request_id uuid NOT NULL,
        from_state varchar(16),
        to_state varchar(16) NOT NULL,
        actor_kind varchar(16) NOT NULL,
        actor_id uuid,
        note text,
        occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        PRIMARY KEY (tenant_id, id),
        FOREIGN KEY (tenant_id, request_id) REFERENCES subject_requests (tenant_id, id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX ix_subject_request_events ON subject_request_events (tenant_id, request_id, occurred_at)",
    """
    CREATE TABLE suppressions (
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        id uuid NOT NULL,
        email_hash bytea NOT NULL,
        request_id uuid,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id, email_hash)
    )
    """,
    """
    CREATE TABLE domain_events (
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        id uuid NOT NULL,
        topic varchar(64) NOT NULL,
        payload jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz,
        PRIMARY KEY (tenant_id, id)
    )
    """,
    "ALTER TABLE api_tokens ADD COLUMN contact_id uuid",
    """ALTER TABLE api_tokens ADD CONSTRAINT fk_api_tokens_contact FOREIGN KEY (tenant_id, contact_id)
       REFERENCES contacts (tenant_id, id) ON DELETE CASCADE""",
    "ALTER TABLE api_tokens ADD CONSTRAINT ck_api_tokens_subject CHECK (kind <> 'subject' OR contact_id IS NOT NULL)",
    "ALTER TABLE tenants ADD COLUMN personal_data_purged_at timestamptz",
    "ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_kind_check",
    """ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN
       ('space_invitation', 'space_updated', 'marketing', 'subject_verification'))""",
]

AUTHENTICATE = """
CREATE FUNCTION app_authenticate(p_token_hash bytea)
RETURNS TABLE (token_id uuid, tenant_id uuid, kind varchar, member_id uuid,
               role varchar, scopes varchar[], policy_version integer, contact_id uuid)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT t.id, t.tenant_id, t.kind, t.member_id, m.role, t.scopes, tn.policy_version,
           t.contact_id
    FROM api_tokens t
    JOIN tenants tn ON tn.id = t.tenant_id
    LEFT JOIN members m ON m.tenant_id = t.tenant_id AND m.id = t.member_id
    WHERE t.token_hash = p_token_hash AND t.revoked_at IS NULL
$$
"""

# The ledgers are append-only for the application role; an erasure in progress is the one
# case in which it may remove a subject's rows from them. The owner (retention) always may.
ERASE_LEDGER = f"""
CREATE FUNCTION app_erase_ledger(p_contact uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    IF session_user = '{APP_ROLE}' AND NOT EXISTS (
        SELECT 1 FROM subject_requests r
        WHERE r.tenant_id = app_current_tenant() AND r.kind = 'erasure'
          AND r.state = 'processing' AND p_contact = ANY (r.contact_ids)
    ) THEN
        RAISE EXCEPTION 'no erasure in progress for this contact'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    DELETE FROM consent_events WHERE tenant_id = app_current_tenant() AND contact_id = p_contact;
    DELETE FROM emails_sent WHERE tenant_id = app_current_tenant() AND contact_id = p_contact;
END
$$
"""


def upgrade() -> None:
    for stmt in TABLES:
        op.execute(stmt)
    for table in ("subject_requests", "subject_request_events", "suppressions", "domain_events"):
        for stmt in tenant_rls(table):
            op.execute(stmt)
    op.execute(grant_app("subject_requests", "SELECT, INSERT, UPDATE"))
    op.execute(grant_app("subject_request_events", "SELECT, INSERT, UPDATE"))
    op.execute(grant_app("suppressions", "SELECT, INSERT"))
    op.execute(grant_app("domain_events", "SELECT, INSERT, UPDATE"))
    op.execute("DROP FUNCTION app_authenticate(bytea)")
    op.execute(AUTHENTICATE)
    op.execute("REVOKE ALL ON FUNCTION app_authenticate(bytea) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION app_authenticate(bytea) TO {APP_ROLE}")
    op.execute(ERASE_LEDGER)
    op.execute("REVOKE ALL ON FUNCTION app_erase_ledger(uuid) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION app_erase_ledger(uuid) TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION app_erase_ledger(uuid)")
    op.execute(
        "DROP TABLE subject_request_events, subject_requests, suppressions, domain_events CASCADE"
    )
    op.execute("ALTER TABLE api_tokens DROP COLUMN contact_id")
    op.execute("ALTER TABLE tenants DROP COLUMN personal_data_purged_at")
