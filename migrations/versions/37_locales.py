"""Locales: a tenant's content locales with a default, and block bodies per locale.

`tenants.locales` lists the tenant's BCP 47 tags in their canonical case (store/locales.py
checks them), `tenants.default_locale` is one of them. `blocks.body` stays the default
locale's body; `blocks.bodies` holds the others, locale -> body, each valid for the block's
kind like `body` (store/block_bodies.py). A read's fallback chain is store/locales.py's.
The published revision holds every locale: `block_revisions.bodies`, copied by
`app_space_publish`, shown by the published views.

Revision ID: 0039
Revises: 0038
"""

from alembic import op

from migrations import published
from migrations.revisions import by_revision

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None


# the published revision holds every locale: block_revisions gets `bodies`, publishing
# copies it, and the published views show it (migrations/published.py)
def _publish(with_bodies: bool) -> str:
    text: str = by_revision("0037").PUBLISH.replace(
        "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1
    )
    if with_bodies:
        text = text.replace(
            "position, body, body_compact,", "position, body, bodies, body_compact,"
        )
        text = text.replace("b.position, b.body,", "b.position, b.body, b.bodies,")
        assert text.count("bodies") == 2, "app_space_publish changed: copy bodies again"
    return text


def upgrade() -> None:
    op.execute(
        "ALTER TABLE tenants ADD COLUMN locales text[] NOT NULL DEFAULT '{en}', "
        "ADD COLUMN default_locale text NOT NULL DEFAULT 'en', "
        "ADD CONSTRAINT tenants_default_locale_listed CHECK (default_locale = ANY (locales))"
    )
    op.execute(
        "ALTER TABLE blocks ADD COLUMN bodies jsonb NOT NULL DEFAULT '{}'::jsonb, "
        "ADD CONSTRAINT blocks_bodies_object CHECK (jsonb_typeof(bodies) = 'object')"
    )
    op.execute(
        "ALTER TABLE block_revisions ADD COLUMN bodies jsonb NOT NULL DEFAULT '{}'::jsonb, "
        "ADD CONSTRAINT block_revisions_bodies_object CHECK (jsonb_typeof(bodies) = 'object')"
    )
    op.execute(_publish(True))
    for statement in published.recreate():
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS published.blocks")
    op.execute("DROP VIEW IF EXISTS published.spaces")
    op.execute(_publish(False))
    op.execute("ALTER TABLE block_revisions DROP COLUMN bodies")
    op.execute("ALTER TABLE blocks DROP COLUMN bodies")
    op.execute(
        "ALTER TABLE tenants DROP CONSTRAINT tenants_default_locale_listed, "
        "DROP COLUMN default_locale, DROP COLUMN locales"
    )
    for statement in published.recreate():
        op.execute(statement)
