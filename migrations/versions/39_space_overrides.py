"""A personalised space's title and description follow its template unless a member changed
them (docs/content.md "Following the template"), as its blocks do.

`spaces.title_overridden` and `spaces.description_overridden` mark a member's change of a
personalised space's title or description (`app_space_update` sets them, and the resolver's
full path); a republish of the template leaves a marked one alone. Spaces personalised
before keep what they have: one that differs from its template's now is marked, so no
member's change is overwritten. The published views are rebuilt for the new columns (the
draft's: revisions do not copy them).

Revision ID: 0041
Revises: 0040
"""

from alembic import op

from migrations import published
from migrations.revisions import by_revision

revision = "0041"
down_revision = "0040"
branch_labels = None
depends_on = None

OLD_SET = """
           SET title = coalesce(p_title, s.title),
               description = coalesce(p_description, s.description),
               updated_at = now()"""
# a change (not a value given again) of a personalised space's text is the member's
NEW_SET = """
           SET title = coalesce(p_title, s.title),
               description = coalesce(p_description, s.description),
               title_overridden = s.title_overridden OR (s.template_id IS NOT NULL
                   AND p_title IS NOT NULL AND p_title IS DISTINCT FROM s.title),
               description_overridden = s.description_overridden OR (s.template_id IS NOT NULL
                   AND p_description IS NOT NULL AND p_description IS DISTINCT FROM s.description),
               updated_at = now()"""


def _space_update(marks: bool) -> str:
    text: str = by_revision("0024").SPACE_UPDATE
    text = text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    assert OLD_SET in text, "app_space_update changed: mark overrides again"
    return text.replace(OLD_SET, NEW_SET) if marks else text


def upgrade() -> None:
    op.execute(
        "ALTER TABLE spaces ADD COLUMN title_overridden boolean NOT NULL DEFAULT false, "
        "ADD COLUMN description_overridden boolean NOT NULL DEFAULT false"
    )
    # the existing spaces, across tenants (the owner is held to row-level security)
    op.execute("ALTER TABLE spaces NO FORCE ROW LEVEL SECURITY")
    op.execute(
        """UPDATE spaces f SET title_overridden = f.title IS DISTINCT FROM t.title,
               description_overridden = f.description IS DISTINCT FROM t.description
             FROM spaces t WHERE t.tenant_id = f.tenant_id AND t.id = f.template_id"""
    )
    op.execute("ALTER TABLE spaces FORCE ROW LEVEL SECURITY")
    op.execute(_space_update(True))
    for statement in published.recreate():
        op.execute(statement)


def downgrade() -> None:
    op.execute(_space_update(False))
    op.execute("DROP VIEW IF EXISTS published.blocks")
    op.execute("DROP VIEW IF EXISTS published.spaces")
    op.execute(
        "ALTER TABLE spaces DROP COLUMN description_overridden, DROP COLUMN title_overridden"
    )
    for statement in published.recreate():
        op.execute(statement)
