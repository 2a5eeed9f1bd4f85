"""The audit chain's helpers in PL/pgSQL, so their plans are kept; the chain head made once.

`audit_principal_signature` (SQL, the owner's rights) and `audit_entry_hash` (SQL with its
own search_path) can never be inlined, and a SQL function that is not inlined plans its
query again on every call: every read that discloses personal data paid it once for the
principal's signature (`app_authenticate`) and once per audit entry. PL/pgSQL keeps the
plans for the session. Same expressions, same rights, same hashes: a chain written before
verifies after, and the other way round.

`audit_append` inserted the tenant's chain head on every call (`ON CONFLICT DO NOTHING`, a
speculative insertion each time); it now inserts it only when the tenant has none yet.

Revision ID: 0023
Revises: 0022
"""

from alembic import op

from migrations.revisions import by_revision

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

# As before (migration 0007): sha256(key || sha256(key || message)), keyed, and immune to
# length extension.
PRINCIPAL_SIGNATURE = """
CREATE OR REPLACE FUNCTION audit_principal_signature(p_claim text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    RETURN (
        SELECT encode(sha256(k.key || sha256(k.key || convert_to(
            p_claim || ':' || pg_backend_pid() || ':' || extract(epoch FROM now())::text, 'UTF8'
        ))), 'hex')
        FROM audit_key k WHERE k.id = 1
    );
END
$$
"""

# As before (migration 0003).
ENTRY_HASH = r"""
CREATE OR REPLACE FUNCTION audit_entry_hash(
    p_prev bytea, p_tenant uuid, p_id uuid, p_seq bigint, p_at timestamptz, p_kind varchar,
    p_principal uuid, p_request varchar, p_operation varchar, p_subjects uuid[], p_fields text[]
) RETURNS bytea LANGUAGE plpgsql STABLE PARALLEL SAFE SET search_path = pg_catalog
AS $$
BEGIN
    RETURN sha256(p_prev || convert_to(concat_ws('|',
        p_tenant::text, p_id::text, p_seq::text,
        to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
        p_kind, coalesce(p_principal::text, ''), coalesce(p_request, ''), p_operation,
        array_to_string(p_subjects, ','), array_to_string(p_fields, ',')), 'UTF8'));
END
$$
"""

HEAD_ONCE = (
    """    INSERT INTO audit_chain_heads (tenant_id, seq, hash)
    VALUES (v_tenant, 0, '\\x'::bytea) ON CONFLICT (tenant_id) DO NOTHING;
    SELECT seq, hash INTO v_seq, v_hash FROM audit_chain_heads WHERE tenant_id = v_tenant FOR UPDATE;
""",
    """    SELECT seq, hash INTO v_seq, v_hash FROM audit_chain_heads WHERE tenant_id = v_tenant FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_chain_heads (tenant_id, seq, hash)
        VALUES (v_tenant, 0, '\\x'::bytea) ON CONFLICT (tenant_id) DO NOTHING;
        SELECT seq, hash INTO v_seq, v_hash FROM audit_chain_heads
            WHERE tenant_id = v_tenant FOR UPDATE;
    END IF;
""",
)


def _append() -> str:
    earlier = by_revision("0007").APPEND
    assert earlier.count(HEAD_ONCE[0]) == 1, "migration 0007's audit_append changed"
    return earlier.replace(*HEAD_ONCE)


def upgrade() -> None:
    op.execute(PRINCIPAL_SIGNATURE)
    op.execute(ENTRY_HASH)
    op.execute(_append())


def downgrade() -> None:
    replace = ("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    # 0007's text also revokes the function from PUBLIC, which still holds
    signature = by_revision("0007").PRINCIPAL_SIGNATURE.split("$$;")[0] + "$$"
    op.execute(signature.replace(*replace))
    op.execute(by_revision("0003").ENTRY_HASH.replace(*replace))
    op.execute(by_revision("0007").APPEND)
