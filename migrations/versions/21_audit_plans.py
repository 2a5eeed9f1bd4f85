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

in_plpgsql = by_revision("0022").in_plpgsql

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

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


def _signature() -> str:
    # 0007's text also revokes the function from PUBLIC, which still holds
    return by_revision("0007").PRINCIPAL_SIGNATURE.split("$$;")[0] + "$$"


def upgrade() -> None:
    # as migrations 0007 and 0003 wrote them
    op.execute(in_plpgsql(_signature()))
    op.execute(in_plpgsql(by_revision("0003").ENTRY_HASH))
    op.execute(_append())


def downgrade() -> None:
    replace = ("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    op.execute(_signature().replace(*replace))
    op.execute(by_revision("0003").ENTRY_HASH.replace(*replace))
    op.execute(by_revision("0007").APPEND)
