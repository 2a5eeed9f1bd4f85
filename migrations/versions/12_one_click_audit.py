"""The audit chain vouches for a one-click unsubscribe: the data subject, through a link.

`audit_append` takes its principal from the transaction's authentication (migration 0007),
and the one-click unsubscribe (RFC 8058) authenticates nobody: the caller holds a link
signed with a key the database never sees. `audit_vouch_one_click` signs the claim
"the contact themselves" (kind `subject`, principal id: the contact's id) for the current
transaction, and only for a transaction that has just written that contact's one-click
withdrawal to the consent ledger; nothing else can be attributed to a data subject this way.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

from migrations.rls import APP_ROLE

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# xmin: the ledger row was inserted by this very transaction (the endpoint writes it
# without a savepoint, so its xmin is the top-level transaction id)
VOUCH = """
CREATE FUNCTION audit_vouch_one_click(p_contact uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    v_tenant uuid := app_current_tenant();
    v_claim text;
BEGIN
    IF v_tenant IS NULL OR NOT EXISTS (
        SELECT 1 FROM consent_events e
        WHERE e.tenant_id = v_tenant AND e.contact_id = p_contact
          AND e.action = 'withdrawn' AND e.source = 'one_click'
          AND e.xmin = pg_current_xact_id()::xid
    ) THEN
        RAISE EXCEPTION 'audit_vouch_one_click needs a one-click withdrawal in this transaction'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    v_claim := v_tenant || ':subject:' || p_contact;
    PERFORM set_config(
        'app.principal', v_claim || ':' || audit_principal_signature(v_claim), true
    );
END
$$
"""


def upgrade() -> None:
    op.execute(VOUCH)
    op.execute("REVOKE ALL ON FUNCTION audit_vouch_one_click(uuid) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION audit_vouch_one_click(uuid) TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION audit_vouch_one_click(uuid)")
