"""Uploads started by URL and never completed are forgotten: `app_uploads_expired` names
the pending assets past their expiry, across tenants, for the worker (which deletes each
in its tenant's scope, row and bytes), and nothing else of them.

Revision ID: 0031
Revises: 0030
"""

from alembic import op

from migrations.rls import APP_ROLE

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

UPLOADS_EXPIRED = """
CREATE FUNCTION app_uploads_expired(p_limit integer)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
    SELECT a.tenant_id, a.id FROM assets a
    WHERE a.state = 'pending' AND a.expires_at <= now()
    ORDER BY a.expires_at
    LIMIT least(greatest(p_limit, 0), 1000)
$$
"""


def upgrade() -> None:
    op.execute(UPLOADS_EXPIRED)
    op.execute("REVOKE ALL ON FUNCTION app_uploads_expired(integer) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION app_uploads_expired(integer) TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION app_uploads_expired(integer)")
