"""The fast lane's audit entry in one statement of its own.

An audited lane read was four round trips: `BEGIN` with the tenant's `set_config`, the
read (which signed the principal in with `app_authenticate`), `audit_append`, `COMMIT`.
Now the read is one statement that scopes itself (`app_lane_scope`, as every other lane
read), and `app_lane_audit` is the second: it scopes its own transaction to the tenant,
authenticates the credential again (`app_authenticate`, which signs the principal in for
`audit_append`), and appends the entries only when the token still stands for the
principal the lane remembers (`p_who`, as microspace/lane/lane.py `_principal_json` builds
it, compared as migration 0021's `app_lane_check` compares it). It returns whether it
appended; false: nothing written, the lane hands the request to the whole way.

PL/pgSQL, so its plans are kept for the session (migration 0023).

Revision ID: 0042
Revises: 0041
"""

from alembic import op

from migrations.rls import APP_ROLE

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None

LANE_AUDIT = """
CREATE FUNCTION app_lane_audit(
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
    SELECT coalesce(count(*) = 1 AND bool_and(jsonb_build_array(
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

SIGNATURE = "app_lane_audit(uuid, jsonb, varchar, uuid, varchar, jsonb, bytea)"


def upgrade() -> None:
    op.execute(LANE_AUDIT)
    op.execute(f"REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SIGNATURE} TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE}")
