"""`app_block_update` takes the bodies as text and reads as JSON only the one it writes.

The lane and the resolver send a body for every kind it is valid for (store/blocks.py
`update_values`: two for the bench's bodies, `heading` and `rich_text`). As `jsonb[]`
PostgreSQL parsed each when it received the parameter; as `text[]` the function casts only
the block's kind's (the same text the server wrote with orjson; `block_json` checks it as
before). Instructions per `blockUpdate` statement (bench/README.md, q3, the same method):
690 k -> 683 k (-1 %).

Revision ID: 0060
Revises: 0059
"""

from alembic import op

from migrations.revisions import by_revision
from migrations.rls import APP_ROLE

revision = "0060"
down_revision = "0059"
branch_labels = None
depends_on = None

OLD = "app_block_update(uuid, uuid, text[], jsonb[], jsonb, jsonb, bytea)"
NEW = "app_block_update(uuid, uuid, text[], text[], jsonb, jsonb, bytea)"

REPLACEMENTS = (
    ("p_bodies jsonb[]", "p_bodies text[]"),
    (
        "SET body = p_bodies[array_position(p_kinds, b.kind::text)],",
        "SET body = p_bodies[array_position(p_kinds, b.kind::text)]::jsonb,",
    ),
)


def _block_update() -> str:
    """Migration 0057's `app_block_update`, the bodies as text."""
    text: str = by_revision("0057")._block_update()
    for old, new in REPLACEMENTS:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def _grant(signature: str) -> None:
    op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")


def upgrade() -> None:
    op.execute(f"DROP FUNCTION {OLD}")
    op.execute(_block_update())
    _grant(NEW)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION {NEW}")
    op.execute(by_revision("0057")._block_update())
    _grant(OLD)
