"""Partners: API keys (expiry, rotation, widget spaces and origins), webhook subscriptions
and deliveries, the domain-event outbox for every tenant, e-mail to members.

Revision ID: 0006
Revises: 0004
"""

from alembic import op

from migrations.rls import APP_ROLE, grant_app, tenant_rls

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = [
    "ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz",
    "ALTER TABLE api_tokens ADD COLUMN hint varchar(16) NOT NULL DEFAULT ''",
    "ALTER TABLE api_tokens ADD COLUMN created_by uuid",
    "ALTER TABLE api_tokens ADD COLUMN previous_token_hash bytea UNIQUE",
    "ALTER TABLE api_tokens ADD COLUMN previous_expires_at timestamptz",
    "ALTER TABLE api_tokens ADD COLUMN rotated_at timestamptz",
    "ALTER TABLE api_tokens ADD COLUMN space_ids uuid[] NOT NULL DEFAULT '{}'",
    "ALTER TABLE api_tokens ADD COLUMN allowed_origins varchar(300)[] NOT NULL DEFAULT '{}'",
    "CREATE INDEX ix_api_tokens_listing ON api_tokens (tenant_id, created_at DESC, id DESC)",
    """
    CREATE TABLE webhook_subscriptions (
        tenant_id uuid NOT NULL,
        id uuid NOT NULL,
        api_key_id uuid NOT NULL,
        url varchar(2000) NOT NULL CHECK (url ~ '^https?://'),
        event_types varchar(64)[] NOT NULL CHECK (cardinality(event_types) > 0),
        description varchar(500) NOT NULL DEFAULT '',
        secret varchar(100) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        failing_since timestamptz,
        notified_at timestamptz,
        disabled_at timestamptz,
        disabled_reason varchar(300),
        PRIMARY KEY (tenant_id, id),
        FOREIGN KEY (tenant_id, api_key_id) REFERENCES api_tokens (tenant_id, id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX ix_webhook_subscriptions_key ON webhook_subscriptions (tenant_id, api_key_id)",
    """
    CREATE TABLE webhook_deliveries (
        tenant_id uuid NOT NULL,
        id uuid NOT NULL,
        subscription_id uuid NOT NULL,
        event_id uuid NOT NULL,
        event_type varchar(64) NOT NULL,
        status varchar(16) NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'delivered', 'dead')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_attempt_at timestamptz,
        last_status_code integer,
        last_error varchar(500),
        response_excerpt text CHECK (length(response_excerpt) <= 1024),
        created_at timestamptz NOT NULL DEFAULT now(),
        window_started_at timestamptz NOT NULL DEFAULT now(),
        first_failed_at timestamptz,
        delivered_at timestamptz,
        PRIMARY KEY (tenant_id, id),
        -- one delivery per event and subscription, however many dispatchers race
        UNIQUE (tenant_id, subscription_id, event_id),
        FOREIGN KEY (tenant_id, subscription_id)
            REFERENCES webhook_subscriptions (tenant_id, id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'",
    "CREATE INDEX ix_webhook_deliveries_listing ON webhook_deliveries (tenant_id, created_at DESC, id DESC)",
    "CREATE INDEX ix_domain_events_due ON domain_events (created_at) WHERE delivered_at IS NULL",
    # e-mail to members (a tenant's owners), not only to contacts
    "ALTER TABLE outbox ALTER COLUMN contact_id DROP NOT NULL",
    "ALTER TABLE outbox ADD COLUMN member_id uuid",
    """ALTER TABLE outbox ADD CONSTRAINT fk_outbox_member FOREIGN KEY (tenant_id, member_id)
       REFERENCES members (tenant_id, id) ON DELETE CASCADE""",
    "ALTER TABLE outbox ADD CONSTRAINT ck_outbox_recipient CHECK ((contact_id IS NULL) <> (member_id IS NULL))",
    "ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_kind_check",
    """ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN
       ('space_invitation', 'space_updated', 'marketing', 'subject_verification', 'webhook_failing'))""",
]

# Expiry and the rotation overlap are checked here, in the lookup every request makes, so a
# revoked, expired or rotated-out secret stops working on its next request in every process.
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
    WHERE (t.token_hash = p_token_hash
           OR (t.previous_token_hash = p_token_hash AND t.previous_expires_at > now()))
      AND t.revoked_at IS NULL
      AND (t.expires_at IS NULL OR t.expires_at > now())
$$
"""

# Why a known secret was refused, so its holder gets a clear error. Only someone holding the
# secret can ask, so this tells nothing to anyone else.
REFUSAL = """
CREATE FUNCTION app_token_refusal(p_token_hash bytea) RETURNS varchar
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT CASE
        WHEN t.revoked_at IS NOT NULL THEN 'revoked'
        WHEN t.expires_at IS NOT NULL AND t.expires_at <= now() THEN 'expired'
        WHEN t.previous_token_hash = p_token_hash THEN 'rotated'
    END
    FROM api_tokens t
    WHERE t.token_hash = p_token_hash OR t.previous_token_hash = p_token_hash
    LIMIT 1
$$
"""

# The worker lists due work of every tenant through these (keys only), then handles each row
# in a transaction scoped to its tenant, under row-level security (microspace/jobs/webhooks.py).
EVENTS_DUE = """
CREATE FUNCTION app_domain_events_due(p_limit integer)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT e.tenant_id, e.id FROM domain_events e
    WHERE e.delivered_at IS NULL
    ORDER BY e.created_at
    LIMIT least(greatest(p_limit, 0), 1000)
$$
"""
DELIVERIES_DUE = """
CREATE FUNCTION app_webhook_deliveries_due(p_limit integer)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT d.tenant_id, d.id FROM webhook_deliveries d
    WHERE d.status = 'pending' AND d.next_attempt_at <= now()
    ORDER BY d.next_attempt_at
    LIMIT least(greatest(p_limit, 0), 1000)
$$
"""

GRANTS = {
    "webhook_subscriptions": "SELECT, INSERT, UPDATE, DELETE",
    "webhook_deliveries": "SELECT, INSERT, UPDATE",
}


def _owner_may_list(table: str, name: str) -> str:
    return (
        f"DO $$ BEGIN EXECUTE format('CREATE POLICY {name} ON {table} "
        f"FOR SELECT TO %I USING (true)', current_user); END $$"
    )


def _function(sql: str, signature: str) -> None:
    op.execute(sql)
    op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")


def upgrade() -> None:
    for stmt in TABLES:
        op.execute(stmt)
    for table, privileges in GRANTS.items():
        for stmt in tenant_rls(table):
            op.execute(stmt)
        op.execute(grant_app(table, privileges))
    op.execute(_owner_may_list("domain_events", "owner_events_due"))
    op.execute(_owner_may_list("webhook_deliveries", "owner_deliveries_due"))
    op.execute("DROP FUNCTION app_authenticate(bytea)")
    _function(AUTHENTICATE, "app_authenticate(bytea)")
    _function(REFUSAL, "app_token_refusal(bytea)")
    _function(EVENTS_DUE, "app_domain_events_due(integer)")
    _function(DELIVERIES_DUE, "app_webhook_deliveries_due(integer)")


def downgrade() -> None:
    import importlib

    previous = importlib.import_module("migrations.versions.04_subject_rights")
    op.execute("DROP FUNCTION app_authenticate(bytea)")
    _function(previous.AUTHENTICATE, "app_authenticate(bytea)")
    for fn in ("app_token_refusal(bytea)", "app_domain_events_due(integer)"):
        op.execute(f"DROP FUNCTION {fn}")
    op.execute("DROP FUNCTION app_webhook_deliveries_due(integer)")
    op.execute("DROP POLICY owner_events_due ON domain_events")
    op.execute("DROP TABLE webhook_deliveries, webhook_subscriptions CASCADE")
    op.execute("DROP INDEX ix_domain_events_due")
    op.execute("DELETE FROM outbox WHERE member_id IS NOT NULL")
    op.execute("ALTER TABLE outbox DROP COLUMN member_id")
    op.execute("ALTER TABLE outbox ALTER COLUMN contact_id SET NOT NULL")
    op.execute("ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check")
    op.execute(
        "ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN "
        "('space_invitation', 'space_updated', 'marketing', 'subject_verification'))"
    )
    op.execute("DROP INDEX ix_api_tokens_listing")
    for column in (
        "expires_at",
        "hint",
        "created_by",
        "previous_token_hash",
        "previous_expires_at",
        "rotated_at",
        "space_ids",
        "allowed_origins",
    ):
        op.execute(f"ALTER TABLE api_tokens DROP COLUMN {column}")
