"""`blockMove` on the fast lane: `app_block_move`, the one move of a block, for the resolver
and the lane alike (the shape of migration 0024's `lane_write`).

It locks the block's space (reorders of a space never interleave), reads the block again
under the lock, and moves it when the position is inside the space (0 to count - 1): the
blocks between shift by one (the position's uniqueness is checked at commit), the block
takes its place, and its `block.moved` event is recorded, as the resolver did in four
round trips. No block back: not found, a position outside the space, the credential
changed or the subscription ended; nothing written, and the whole way says which.

Revision ID: 0026
Revises: 0025
"""

from alembic import op

from migrations.revisions import by_revision
from migrations.rls import APP_ROLE

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

BLOCK_MOVE = by_revision("0024").lane_write(
    "app_block_move",
    "p_id uuid, p_position integer, p_event jsonb",
    "block",
    "blocks",
    "v_space uuid; v_old integer; v_count integer; v_block blocks;",
    """
        SELECT b.space_id INTO v_space FROM blocks AS b
         WHERE b.tenant_id = p_tenant AND b.id = p_id;
        PERFORM FROM spaces AS s WHERE s.tenant_id = p_tenant AND s.id = v_space FOR UPDATE;
        SELECT b.position INTO v_old FROM blocks AS b
         WHERE b.tenant_id = p_tenant AND b.id = p_id;
        SELECT count(*) INTO v_count FROM blocks AS b
         WHERE b.tenant_id = p_tenant AND b.space_id = v_space;
        IF v_old IS NOT NULL AND p_position >= 0 AND p_position < v_count THEN
            IF p_position <> v_old THEN
                UPDATE blocks AS b
                   SET position = b.position + CASE WHEN p_position < v_old THEN 1 ELSE -1 END,
                       updated_at = now()
                 WHERE b.tenant_id = p_tenant AND b.space_id = v_space
                   AND b.position BETWEEN least(p_position, v_old) AND greatest(p_position, v_old)
                   AND b.id <> p_id;
                UPDATE blocks AS b SET position = p_position, updated_at = now()
                 WHERE b.tenant_id = p_tenant AND b.id = p_id;
            END IF;
            SELECT * INTO v_block FROM blocks AS b WHERE b.tenant_id = p_tenant AND b.id = p_id;
            PERFORM app_emit_events(p_tenant, 'block.moved', ARRAY[p_event]);
            block := v_block;
        END IF;
    """,
)

SIGNATURE = "app_block_move(uuid, uuid, integer, jsonb, jsonb, bytea)"


def upgrade() -> None:
    op.execute(BLOCK_MOVE)
    op.execute(f"REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SIGNATURE} TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE}")
