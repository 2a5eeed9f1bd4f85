"""`spaceUpdate` on the fast lane: `app_space_update`, the one change of a space's title and
description, for the resolver and the lane alike.

The resolver's lean path (no slug: nothing can collide) was an UPDATE with its event in one
statement, written in Python (store/events.py `with_event`). It is now this function, which
the fast lane calls too with the principal and the token hash, as `app_block_update` takes
them (migration 0021): given a principal it scopes its transaction to the tenant and
re-checks the credential (`app_lane_check`) before it writes; given none (the resolver, in
a transaction already scoped) it writes at once. No space back: not found, the credential
changed or the subscription ended; nothing written, the whole way answers.

`lane_write` is the shape of every such function, written once.

Revision ID: 0024
Revises: 0023
"""

from alembic import op

from migrations.revisions import by_revision
from migrations.rls import APP_ROLE

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def lane_write(name: str, arguments: str, column: str, table: str, declare: str, body: str) -> str:
    """A write the resolver and the fast lane share: `(same boolean, column table)` back, one
    row; `body` runs only for a principal the credential still stands for (or none given),
    sets `column` when it wrote, and records the event itself."""
    prelude = by_revision("0021").LANE_PRELUDE
    return f"""
CREATE FUNCTION {name}(
    p_tenant uuid, {arguments},
    p_who jsonb DEFAULT NULL, p_token_hash bytea DEFAULT NULL)
RETURNS TABLE (same boolean, {column} {table})
LANGUAGE plpgsql VOLATILE SECURITY INVOKER ROWS 1
AS $$
DECLARE
    v_tenant text;
    v_ended boolean := false;
    {declare}
BEGIN
    same := true;
    IF p_who IS NOT NULL THEN
        {prelude}
    END IF;
    IF same AND NOT v_ended THEN
        {body}
    END IF;
    RETURN NEXT;
END
$$
"""


SPACE_UPDATE = lane_write(
    "app_space_update",
    "p_id uuid, p_title text, p_description text, p_event jsonb",
    "space",
    "spaces",
    "v_space spaces;",
    """
        UPDATE spaces AS s
           SET title = coalesce(p_title, s.title),
               description = coalesce(p_description, s.description),
               updated_at = now()
         WHERE s.tenant_id = p_tenant AND s.id = p_id
        RETURNING s.* INTO v_space;
        IF FOUND THEN
            PERFORM app_emit_events(p_tenant, 'space.updated', ARRAY[p_event]);
            space := v_space;
        END IF;
    """,
)

SIGNATURE = "app_space_update(uuid, uuid, text, text, jsonb, jsonb, bytea)"


def upgrade() -> None:
    op.execute(SPACE_UPDATE)
    op.execute(f"REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {SIGNATURE} TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {SIGNATURE}")
