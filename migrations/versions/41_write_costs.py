"""What every block write paid the database for nothing (bench/README.md, q3).

- Announcements only where someone listens: `live_follows` holds a row per tenant per API
  process that has live subscribers of that tenant now (microspace/live/follows.py keeps
  it, with an expiry it renews). The announcement trigger looks for its event's tenant
  there (one index probe) and announces only then. Before, every domain event was
  announced: NOTIFY takes a database-wide lock at commit, so every writing transaction of
  every tenant committed one after the other, and each woke the LISTEN connection of every
  API process. docs/live.md ("Following a tenant") says why no event is lost when a
  process starts following a tenant while a write is under way.
- No `SET search_path` on the functions each block write calls (`app_blocks_body_compact`,
  `app_json_compact`, `app_live_announce`): a function with a SET clause is called through
  a wrapper that saves and restores the setting, and changing the search path makes the
  next name lookup recompute it. Their names are written schema-qualified instead.
- `domain_events` loses its foreign key to `tenants`: checked on every event, it locked the
  tenant's row (FOR KEY SHARE: every write of a tenant locking the same row). An event is
  only ever written for the tenant its transaction is scoped to (row-level security), a
  tenant row is never deleted (account deletion keeps it as a tombstone and deletes the
  events with every other row of the tenant: `app_delete_tenant`).

Revision ID: 0043
Revises: 0042
"""

from alembic import op

from migrations.revisions import by_revision
from migrations.rls import APP_ROLE, grant_app, tenant_rls

revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None

CHANNEL = "microspace_live"

FOLLOWS = """
CREATE TABLE live_follows (
    tenant_id uuid NOT NULL,
    process uuid NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, process)
)
"""

# the process's functions write rows of many tenants: as the owner, which may
OWNER_POLICY = (
    "DO $$ BEGIN EXECUTE format('CREATE POLICY owner_follows ON live_follows "
    "TO %I USING (true) WITH CHECK (true)', current_user); END $$"
)

# the tenants `p_process` follows now, for `p_seconds` more; expired rows of any process
# (one that stopped without unfollowing) go
FOLLOW = """
CREATE FUNCTION app_live_follow(p_process uuid, p_tenants uuid[], p_seconds integer)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    DELETE FROM live_follows WHERE expires_at < now();
    INSERT INTO live_follows (tenant_id, process, expires_at)
    SELECT DISTINCT t, p_process, now() + make_interval(secs => least(greatest(p_seconds, 1), 3600))
      FROM unnest(p_tenants) AS t
    ON CONFLICT (tenant_id, process) DO UPDATE SET expires_at = excluded.expires_at;
$$
"""

# NULL tenants: all of the process's
UNFOLLOW = """
CREATE FUNCTION app_live_unfollow(p_process uuid, p_tenants uuid[])
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    DELETE FROM live_follows
     WHERE process = p_process AND (p_tenants IS NULL OR tenant_id = ANY (p_tenants));
$$
"""

# With the writer's rights: row-level security shows the writer's own tenant's rows only,
# which is the tenant asked about. NOTIFY is transactional: delivered at commit, never for a
# rolled-back change.
ANNOUNCE = f"""
CREATE OR REPLACE FUNCTION app_live_announce() RETURNS trigger
LANGUAGE plpgsql SECURITY INVOKER
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM public.live_follows f
                WHERE f.tenant_id = NEW.tenant_id AND f.expires_at > now()) THEN
        PERFORM pg_catalog.pg_notify('{CHANNEL}', NEW.tenant_id::text || ' ' || NEW.id::text);
    END IF;
    RETURN NULL;
END
$$
"""

COMPACT_TRIGGER = """
CREATE OR REPLACE FUNCTION app_blocks_body_compact() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.body_compact := public.app_json_compact(NEW.body);
    RETURN NEW;
END
$$
"""

FK = (
    "ALTER TABLE domain_events ADD CONSTRAINT domain_events_tenant_id_fkey "
    "FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE"
)

SIGNATURES = ("app_live_follow(uuid, uuid[], integer)", "app_live_unfollow(uuid, uuid[])")


def _replace(text: str) -> str:
    return text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade() -> None:
    op.execute(FOLLOWS)
    for statement in tenant_rls("live_follows"):
        op.execute(statement)
    op.execute(OWNER_POLICY)
    op.execute(grant_app("live_follows", "SELECT"))
    op.execute(FOLLOW)
    op.execute(UNFOLLOW)
    for signature in SIGNATURES:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")
    op.execute(ANNOUNCE)
    op.execute(COMPACT_TRIGGER)
    # its body names only pg_catalog's functions, which are looked up first anyway
    op.execute("ALTER FUNCTION app_json_compact(jsonb) RESET search_path")
    op.execute("ALTER TABLE domain_events DROP CONSTRAINT domain_events_tenant_id_fkey")


def downgrade() -> None:
    op.execute(FK)
    op.execute("ALTER FUNCTION app_json_compact(jsonb) SET search_path = pg_catalog")
    op.execute(_replace(by_revision("0034").TRIGGER_FUNCTION))
    op.execute(_replace(by_revision("0036").ANNOUNCE))
    for signature in reversed(SIGNATURES):
        op.execute(f"DROP FUNCTION {signature}")
    op.execute("DROP TABLE live_follows")
