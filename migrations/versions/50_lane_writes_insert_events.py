"""The fast lane's other writes insert their event themselves, as `app_block_update` does
since migration 0050.

`app_space_update`, `app_block_add`, `app_block_move` and `app_consent_grant` called
`app_emit_events` for their one event: a PL/pgSQL call and its own statement over
`unnest`. Each now inserts the row `app_emit_events` inserts for one payload (migration
0050's `EVENT_INSERT`, with its topic): the same event, announced by the same trigger; on
`blockUpdate` the same change measured 43 k instructions a statement fewer (bench/README.md,
q3). Their credential re-check (`app_lane_check`) is migration 0050's already.

Revision ID: 0052
Revises: 0051
"""

from alembic import op

from migrations.revisions import by_revision

revision = "0052"
down_revision = "0051"
branch_labels = None
depends_on = None

REPLACE = ("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def _previous() -> dict[str, str]:
    """Each write's current text, by its topic."""
    return {
        "space.updated": by_revision("0041")._space_update(True),
        "block.created": by_revision("0027").BLOCK_ADD.replace(*REPLACE),
        "block.moved": by_revision("0026").BLOCK_MOVE.replace(*REPLACE),
        "consent.granted": by_revision("0049").CONSENT_GRANT.replace(*REPLACE),
    }


def inserting(text: str, topic: str) -> str:
    """`text` with its call of `app_emit_events` for one `p_event` of `topic` replaced by
    the row's insert."""
    emit = f"PERFORM app_emit_events(p_tenant, '{topic}', ARRAY[p_event]);"
    assert text.count(emit) == 1, topic
    insert: str = by_revision("0050").EVENT_INSERT
    return text.replace(emit, insert.replace("'block.updated'", f"'{topic}'", 1))


def upgrade() -> None:
    for topic, text in _previous().items():
        op.execute(inserting(text, topic))


def downgrade() -> None:
    for text in _previous().values():
        op.execute(text)
