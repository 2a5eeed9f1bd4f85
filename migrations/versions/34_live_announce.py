"""Live updates: every domain event is announced with NOTIFY when its transaction commits,
and the API processes read the announced events through `app_live_events`.

The announcement carries the tenant and the event id, nothing else (no personal data ever
goes through the notification queue, which any role that LISTENs on the channel could read).
`app_live_events` returns the events of those ids across tenants (topic and payload: ids and
field names only, migration 0015); the process then answers each subscriber under that
subscriber's own credential (microspace/live/).

Revision ID: 0036
Revises: 0035
"""

from alembic import op

from migrations.rls import APP_ROLE

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None

CHANNEL = "microspace_live"

# NOTIFY is transactional: delivered at commit, never for a rolled-back change
ANNOUNCE = f"""
CREATE FUNCTION app_live_announce() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, public
AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', NEW.tenant_id::text || ' ' || NEW.id::text);
    RETURN NULL;
END
$$
"""

TRIGGER = (
    "CREATE TRIGGER domain_events_live AFTER INSERT ON domain_events "
    "FOR EACH ROW EXECUTE FUNCTION app_live_announce()"
)

# by primary key (tenant, id); the listener asks for at most 1,000 at a time
EVENTS = """
CREATE FUNCTION app_live_events(p_tenants uuid[], p_ids uuid[])
RETURNS TABLE (tenant_id uuid, id uuid, topic varchar, payload jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT e.tenant_id, e.id, e.topic, e.payload
    FROM unnest(p_tenants[1:1000], p_ids[1:1000]) AS k(tenant_id, id)
    JOIN domain_events e ON e.tenant_id = k.tenant_id AND e.id = k.id
    ORDER BY e.created_at, e.id
$$
"""


def upgrade() -> None:
    op.execute(ANNOUNCE)
    op.execute("REVOKE ALL ON FUNCTION app_live_announce() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION app_live_announce() TO {APP_ROLE}")
    op.execute(TRIGGER)
    op.execute(EVENTS)
    op.execute("REVOKE ALL ON FUNCTION app_live_events(uuid[], uuid[]) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION app_live_events(uuid[], uuid[]) TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION app_live_events(uuid[], uuid[])")
    op.execute("DROP TRIGGER domain_events_live ON domain_events")
    op.execute("DROP FUNCTION app_live_announce()")
