"""Audit fixes: the database refuses two blocks at one position of a space.

Revision ID: 0007
Revises: 0004
"""

from alembic import op

from migrations.rls import APP_ROLE

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None

# Renumber first: a space whose order was corrupted by concurrent moves before this fix would
# otherwise stop the migration. FORCE is lifted for the owner only inside this transaction.
RENUMBER = """
UPDATE blocks b SET position = r.n - 1
FROM (
    SELECT tenant_id, id,
           row_number() OVER (PARTITION BY tenant_id, space_id ORDER BY position, created_at, id) AS n
    FROM blocks
) r
WHERE b.tenant_id = r.tenant_id AND b.id = r.id AND b.position <> r.n - 1
"""

# DEFERRABLE INITIALLY DEFERRED: a reorder shifts a range of positions by one in a single
# UPDATE, which passes through duplicates; only the state at commit must be dense and unique.
UNIQUE_POSITION = """
ALTER TABLE blocks ADD CONSTRAINT blocks_space_position_key
    UNIQUE (tenant_id, space_id, position) DEFERRABLE INITIALLY DEFERRED
"""


# a subject's magic link is e-mailed to the contact's own address, never handed to the caller
OUTBOX_KINDS = """ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN
   ('space_invitation', 'space_updated', 'marketing', 'subject_verification', 'subject_link'))"""


# The worker (application role, no tenant) finds erasures a crash left `processing`: this
# function (run as the owner) lists their keys across tenants and nothing else; each is then
# resumed in a transaction scoped to its own tenant, under row-level security.
ERASURES_INTERRUPTED = """
CREATE FUNCTION app_erasures_interrupted(p_limit integer)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT r.tenant_id, r.id FROM subject_requests r
    WHERE r.kind = 'erasure' AND r.state = 'processing'
    ORDER BY r.due_at
    LIMIT least(greatest(p_limit, 0), 1000)
$$;
"""


# The file mail sink (development) keeps one file per outbox row; the worker keeps only the
# files whose row still exists (an erasure or retention deletes the rows): this function
# answers which of the given outbox ids still exist, across tenants, and nothing else.
OUTBOX_KNOWN = """
CREATE FUNCTION app_outbox_known(p_ids uuid[])
RETURNS TABLE (id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT o.id FROM outbox o WHERE o.id = ANY(p_ids) $$;
"""


def upgrade() -> None:
    op.execute(OUTBOX_KNOWN)
    op.execute("REVOKE ALL ON FUNCTION app_outbox_known(uuid[]) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION app_outbox_known(uuid[]) TO {APP_ROLE}")
    op.execute(
        "DO $$ BEGIN EXECUTE format('CREATE POLICY owner_erasures_interrupted "
        "ON subject_requests FOR SELECT TO %I USING (true)', current_user); END $$"
    )
    op.execute(ERASURES_INTERRUPTED)
    op.execute("REVOKE ALL ON FUNCTION app_erasures_interrupted(integer) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION app_erasures_interrupted(integer) TO {APP_ROLE}")
    op.execute("ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_kind_check")
    op.execute(OUTBOX_KINDS)
    op.execute("ALTER TABLE blocks NO FORCE ROW LEVEL SECURITY")
    op.execute(RENUMBER)
    op.execute("ALTER TABLE blocks FORCE ROW LEVEL SECURITY")
    op.execute(UNIQUE_POSITION)


def downgrade() -> None:
    op.execute("DROP FUNCTION app_outbox_known(uuid[])")
    op.execute("DROP FUNCTION app_erasures_interrupted(integer)")
    op.execute("DROP POLICY owner_erasures_interrupted ON subject_requests")
    op.execute("ALTER TABLE blocks DROP CONSTRAINT blocks_space_position_key")
    op.execute("ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_kind_check")
    op.execute(OUTBOX_KINDS.replace(", 'subject_link'", ""))
