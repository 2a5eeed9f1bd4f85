"""A TRUNCATE of `api_tokens` or `members` moves every tenant's credentials epoch.

The fast lane checks a remembered member's or partner's principal by its tenant's
credentials epoch (migration 0061), which row triggers move on every UPDATE or DELETE of a
token or member. A TRUNCATE fires no row trigger: it left every epoch where it was, so the
lane went on answering for tokens that no longer existed until the process forgot them.
A statement trigger on each table now moves the epoch of every tenant, in the TRUNCATE's
own transaction.

`tenants` forces row-level security, so a table owner that is not a superuser may update
only the tenant its transaction is set to: the trigger sets each tenant in turn (the
owner's own policy lets it read every tenant's row), then restores the setting it found.

Revision ID: 0062
Revises: 0061
"""

from alembic import op

revision = "0062"
down_revision = "0061"
branch_labels = None
depends_on = None

TRUNCATED = """
CREATE FUNCTION app_credentials_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_set text := current_setting('app.tenant_id', true);
    v_tenant uuid;
BEGIN
    FOR v_tenant IN SELECT id FROM public.tenants LOOP
        PERFORM set_config('app.tenant_id', v_tenant::text, true);
        UPDATE public.tenants SET credentials_epoch = credentials_epoch + 1
         WHERE id = v_tenant;
    END LOOP;
    PERFORM set_config('app.tenant_id', coalesce(v_set, ''), true);
    RETURN NULL;
END
$$
"""
TABLES = ("api_tokens", "members")


def upgrade() -> None:
    op.execute(TRUNCATED)
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_credentials_truncated AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION app_credentials_truncated()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_credentials_truncated ON {table}")
    op.execute("DROP FUNCTION app_credentials_truncated()")
