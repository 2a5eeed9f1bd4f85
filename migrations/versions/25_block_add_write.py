"""`blockAdd` on the fast lane: `app_block_add`, the one insertion of a block, for the
resolver and the lane alike (the shape of migration 0024's `lane_write`).

It locks the space (reorders of a space never interleave), counts its blocks, and when the
position is inside (0 to the count; none: the end) shifts the blocks from there by one
(the position's uniqueness is checked at commit), inserts the block with the body the
caller validated for its kind, and records its `block.created` event, as the resolver did
in five round trips. No block back: the space not found, a position outside it, the
credential changed or the subscription ended; nothing written, the whole way says which.

Revision ID: 0027
Revises: 0026
"""

from alembic import op

from migrations.revisions import by_revision
from migrations.rls import APP_ROLE

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

BLOCK_ADD = by_revision("0024").lane_write(
    "app_block_add",
    "p_id uuid, p_space uuid, p_kind text, p_body jsonb, p_position integer, p_event jsonb",
    "block",
    "blocks",
    "v_count integer; v_position integer; v_block blocks;",
    """
        PERFORM FROM spaces AS s WHERE s.tenant_id = p_tenant AND s.id = p_space FOR UPDATE;
        IF FOUND THEN
            SELECT count(*) INTO v_count FROM blocks AS b
             WHERE b.tenant_id = p_tenant AND b.space_id = p_space;
            v_position := coalesce(p_position, v_count);
            IF v_position BETWEEN 0 AND v_count THEN
                UPDATE blocks AS b SET position = b.position + 1, updated_at = now()
                 WHERE b.tenant_id = p_tenant AND b.space_id = p_space
                   AND b.position >= v_position;
                INSERT INTO blocks (tenant_id, id, space_id, kind, position, body)
                VALUES (p_tenant, p_id, p_space, p_kind, v_position, p_body)
                RETURNING * INTO v_block;
                PERFORM app_emit_events(p_tenant, 'block.created', ARRAY[p_event]);
                block := v_block;
            END IF;
        END IF;
    """,
)

SIGNATURE = "app_block_add(uuid, uuid, uuid, text, jsonb, integer, jsonb, jsonb, bytea)"


def upgrade() -> None:
    op.execute(BLOCK_ADD)
    op.execute(f"REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SIGNATURE} TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE}")
