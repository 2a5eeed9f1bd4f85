"""Contacts, space access, consent ledger, e-mail outbox, e-mails sent, usage events.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from migrations.rls import APP_ROLE, grant_app, tenant_rls

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = """
CREATE TABLE contacts (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL,
    email varchar(320) NOT NULL CHECK (email LIKE '%_@_%'),
    full_name varchar(200),
    company varchar(200),
    job_title varchar(200),
    phone varchar(50),
    locale varchar(35),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);
CREATE INDEX ix_contacts_listing ON contacts (tenant_id, created_at DESC, id DESC);
CREATE TABLE space_access (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    space_id uuid NOT NULL,
    contact_id uuid NOT NULL,
    state varchar(16) NOT NULL DEFAULT 'invited'
        CHECK (state IN ('invited', 'accepted', 'revoked')),
    invited_at timestamptz NOT NULL DEFAULT now(),
    accepted_at timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, space_id, contact_id),
    FOREIGN KEY (tenant_id, space_id) REFERENCES spaces (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX ix_space_access_contact ON space_access (tenant_id, contact_id, created_at, id);
CREATE INDEX ix_space_access_space ON space_access (tenant_id, space_id, created_at, id);
CREATE TABLE consent_events (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    contact_id uuid NOT NULL,
    purpose varchar(32) NOT NULL
        CHECK (purpose IN ('marketing_email', 'product_updates', 'analytics', 'cookies')),
    action varchar(16) NOT NULL CHECK (action IN ('granted', 'withdrawn')),
    source varchar(16) NOT NULL CHECK (source IN ('form', 'widget', 'api', 'import')),
    policy_version varchar(50),
    evidence text CHECK (length(evidence) <= 2000),
    occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    recorded_by uuid,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX ix_consent_events_current
    ON consent_events (tenant_id, contact_id, purpose, occurred_at DESC, id DESC);
CREATE TABLE outbox (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    kind varchar(32) NOT NULL
        CHECK (kind IN ('space_invitation', 'space_updated', 'marketing')),
    contact_id uuid NOT NULL,
    space_id uuid,
    payload jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
    status varchar(16) NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'cancelled', 'dead')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    cancelled_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, space_id) REFERENCES spaces (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX ix_outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX ix_outbox_contact ON outbox (tenant_id, contact_id) WHERE status = 'pending';
CREATE TABLE emails_sent (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    contact_id uuid NOT NULL,
    outbox_id uuid NOT NULL,
    kind varchar(32) NOT NULL,
    to_address varchar(320) NOT NULL,
    subject varchar(300) NOT NULL,
    message_id varchar(300) NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX ix_emails_sent_contact ON emails_sent (tenant_id, contact_id, sent_at);
CREATE TABLE usage_events (
    tenant_id uuid NOT NULL,
    id uuid NOT NULL,
    contact_id uuid NOT NULL,
    space_id uuid NOT NULL,
    block_id uuid,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, space_id) REFERENCES spaces (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, block_id) REFERENCES blocks (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX ix_usage_events_space ON usage_events (tenant_id, space_id, occurred_at);
CREATE INDEX ix_usage_events_contact ON usage_events (tenant_id, contact_id)
"""

# The worker finds due e-mails of every tenant through this function, which runs as the
# owner and returns keys only. It then sets each row's tenant and reads, locks and sends the
# row under row-level security like any request (microspace/jobs/worker.py, docs/contacts.md).
OUTBOX_DUE = """
CREATE FUNCTION app_outbox_due(p_limit integer)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT o.tenant_id, o.id FROM outbox o
    WHERE o.status = 'pending' AND o.next_attempt_at <= now()
    ORDER BY o.next_attempt_at
    LIMIT least(greatest(p_limit, 0), 1000)
$$;
"""

# grants per table: the consent ledger is append-only for the application (no UPDATE or
# DELETE; rows go only with their contact, by the foreign key's cascade)
GRANTS = {
    "contacts": "SELECT, INSERT, UPDATE, DELETE",
    "space_access": "SELECT, INSERT, UPDATE, DELETE",
    "consent_events": "SELECT, INSERT",
    "outbox": "SELECT, INSERT, UPDATE, DELETE",
    "emails_sent": "SELECT, INSERT",
    "usage_events": "SELECT, INSERT, DELETE",
}


def upgrade() -> None:
    for stmt in TABLES.split(";"):
        if stmt.strip():
            op.execute(stmt)
    for table, privileges in GRANTS.items():
        for stmt in tenant_rls(table):
            op.execute(stmt)
        op.execute(grant_app(table, privileges))
    # FORCE holds the owner to the tenant policy too; app_outbox_due (run as the owner) may
    # read due rows of every tenant, and nothing else may
    op.execute(
        "DO $$ BEGIN EXECUTE format('CREATE POLICY owner_outbox_due ON outbox "
        "FOR SELECT TO %I USING (true)', current_user); END $$"
    )
    op.execute(OUTBOX_DUE)
    op.execute("REVOKE ALL ON FUNCTION app_outbox_due(integer) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION app_outbox_due(integer) TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION app_outbox_due(integer)")
    for table in reversed(list(GRANTS)):
        op.execute(f"DROP TABLE {table} CASCADE")
