"""The published views: what widgets and visitors read (docs/content.md).

`published.spaces` and `published.blocks` have exactly the columns of `public.spaces` and
`public.blocks`, so a read that names `spaces` or `blocks` answers from the published revision
when `published` comes first on the search path (store/audience.py) or is named
(compiler/audience.py). They are built from the catalog when a migration runs: a space column
that `space_revisions` also has comes from the revision, the others from the draft row; every
block column comes from `block_revisions` (a block deleted from the draft stays published).

A migration that adds a column to `spaces` or `blocks` (and to its revision table, if it is
content) calls `recreate()` again; tests/test_revisions.py checks the columns match.
"""

from __future__ import annotations

from migrations.rls import APP_ROLE

# columns the draft row keeps even where the revision has one of the same name
DRAFT_KEEPS = ("tenant_id", "id", "created_at")

RECREATE = f"""
DO $$
DECLARE
    v_spaces text;
    v_blocks text;
BEGIN
    SELECT string_agg(
        CASE
            WHEN s.column_name = 'updated_at' THEN 'r.created_at AS updated_at'
            WHEN r.column_name IS NOT NULL
                AND s.column_name <> ALL (ARRAY{list(DRAFT_KEEPS)!r})
                THEN 'r.' || quote_ident(s.column_name)
            ELSE 's.' || quote_ident(s.column_name)
        END, ', ' ORDER BY s.ordinal_position)
    INTO v_spaces
    FROM information_schema.columns s
    LEFT JOIN information_schema.columns r ON r.table_schema = 'public'
        AND r.table_name = 'space_revisions' AND r.column_name = s.column_name
    WHERE s.table_schema = 'public' AND s.table_name = 'spaces';

    SELECT string_agg(
        CASE WHEN b.column_name = 'id' THEN 'r.block_id AS id'
             ELSE 'r.' || quote_ident(b.column_name) END,
        ', ' ORDER BY b.ordinal_position)
    INTO v_blocks
    FROM information_schema.columns b
    WHERE b.table_schema = 'public' AND b.table_name = 'blocks';

    DROP VIEW IF EXISTS published.blocks;
    DROP VIEW IF EXISTS published.spaces;
    -- security_invoker: row-level security of the tables applies to whoever reads the view
    EXECUTE format(
        'CREATE VIEW published.spaces WITH (security_invoker = true) AS SELECT %s '
        'FROM public.spaces s JOIN public.space_revisions r ON r.tenant_id = s.tenant_id '
        'AND r.space_id = s.id AND r.id = s.published_revision_id', v_spaces);
    EXECUTE format(
        'CREATE VIEW published.blocks WITH (security_invoker = true) AS SELECT %s '
        'FROM public.block_revisions r JOIN public.spaces s ON s.tenant_id = r.tenant_id '
        'AND s.id = r.space_id AND s.published_revision_id = r.revision_id', v_blocks);
    GRANT SELECT ON published.spaces, published.blocks TO {APP_ROLE};
END
$$
"""


def recreate() -> list[str]:
    """The statements that (re)build both views from the tables' current columns."""
    return [RECREATE]
