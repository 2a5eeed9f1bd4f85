"""The audited lane read's audit appends only for a credential of the tenant it was given.

`app_lane_audit` (migration 0042) compared the authenticated principal with the one the
lane remembers, but not its tenant: called with tenant A and a token of tenant B, it
accepted (and `app_authenticate` had signed the principal in for B). The lane only ever
passes the principal's own tenant, but every function taking a credential must give the
shared match's verdict for the tenant it is asked about (tests/test_token_match.py).

Revision ID: 0046
Revises: 0045
"""

from alembic import op

revision = "0046"
down_revision = "0045"
branch_labels = None
depends_on = None


def _function(tenant_check: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION app_lane_audit(
    p_tenant uuid, p_who jsonb, p_kind varchar, p_principal uuid, p_request varchar,
    p_entries jsonb, p_token_hash bytea)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
DECLARE
    v_tenant text;
    v_same boolean;
BEGIN
    -- for this transaction only: the statement that called us is its own transaction
    v_tenant := set_config('app.tenant_id', p_tenant::text, true);
    SELECT coalesce(count(*) = 1 AND bool_and({tenant_check}jsonb_build_array(
               a.token_id, a.kind, a.member_id, a.contact_id, a.policy_version,
               CASE WHEN a.kind = 'member'
                    THEN CASE WHEN coalesce(a.role, '') = '' THEN '[]'::jsonb
                              ELSE jsonb_build_array(a.role) END
                    ELSE to_jsonb(coalesce(a.scopes, ARRAY[]::varchar[])) END) = p_who), false)
      INTO v_same
      FROM app_authenticate(p_token_hash) AS a;
    IF v_same THEN
        PERFORM audit_append(p_kind, p_principal, p_request, p_entries);
    END IF;
    RETURN v_same;
END
$$
"""


def upgrade() -> None:
    op.execute(_function("a.tenant_id = p_tenant AND "))


def downgrade() -> None:
    op.execute(_function(""))
