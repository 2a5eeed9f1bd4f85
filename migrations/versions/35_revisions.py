"""Drafts and published revisions (issue 23): `space_revisions`, `block_revisions`,
`spaces.published_revision_id`, the `published` views and `app_space_publish`.

Members keep editing `spaces` and `blocks` (the draft). Publishing copies the space's content
and its blocks into an immutable revision (the application role may insert and read
revisions, never change or delete them) and points `published_revision_id` at it; widgets and
visitors read `published.spaces` / `published.blocks` (migrations/published.py). A revision
names its author by kind and id only: the display name is read from the member or key when
shown, so no copy of a person's name is kept here for an erasure to find.

`app_delete_tenant` orders its deletes by foreign keys; `spaces` and `space_revisions` now
reference each other, so edges that set a column NULL (which never block a delete) are left
out of its ordering.

Spaces published before this revision get revision 1 from their current content.

Revision ID: 0037
Revises: 0036
"""

from alembic import op

from migrations import published
from migrations.revisions import by_revision
from migrations.rls import APP_ROLE, grant_app, tenant_rls

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None

UP = [
    """
    CREATE TABLE space_revisions (
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        id uuid NOT NULL,
        space_id uuid NOT NULL,
        number integer NOT NULL CHECK (number >= 1),
        title varchar(200) NOT NULL,
        slug varchar(100) NOT NULL,
        description text NOT NULL,
        note varchar(500) NOT NULL DEFAULT '',
        author_kind varchar(16) NOT NULL,
        author_id uuid,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id, space_id, number),
        UNIQUE (tenant_id, space_id, id),
        FOREIGN KEY (tenant_id, space_id) REFERENCES spaces (tenant_id, id) ON DELETE CASCADE
    )
    """,
    """
    CREATE TABLE block_revisions (
        tenant_id uuid NOT NULL,
        revision_id uuid NOT NULL,
        block_id uuid NOT NULL,
        space_id uuid NOT NULL,
        kind varchar(32) NOT NULL,
        position integer NOT NULL CHECK (position >= 0),
        body jsonb NOT NULL CHECK (jsonb_typeof(body) = 'object'),
        -- as the draft had it (migration 0034): compiled reads send it as it is
        body_compact text,
        -- a personalised space's link to its template's block (migration 0035)
        template_block_id uuid,
        overridden boolean NOT NULL DEFAULT false,
        has_merge_fields boolean GENERATED ALWAYS AS (strpos(body::text, '{{') > 0) STORED,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (tenant_id, revision_id, block_id),
        FOREIGN KEY (tenant_id, space_id, revision_id)
            REFERENCES space_revisions (tenant_id, space_id, id) ON DELETE CASCADE
    )
    """,
    # a revision's blocks in the order every read wants them; positions are unique in the
    # draft they were copied from (its deferred constraint)
    "CREATE INDEX ix_block_revisions_order ON block_revisions (tenant_id, revision_id, position, block_id)",
    "ALTER TABLE spaces ADD COLUMN published_revision_id uuid",
    # the revision must be one of this space's: (tenant, space, revision) together
    """
    ALTER TABLE spaces ADD CONSTRAINT spaces_published_revision_fkey
        FOREIGN KEY (tenant_id, id, published_revision_id)
        REFERENCES space_revisions (tenant_id, space_id, id)
        ON DELETE SET NULL (published_revision_id)
    """,
    "CREATE SCHEMA published",
    f"GRANT USAGE ON SCHEMA published TO {APP_ROLE}",
]

# one statement, one round trip: lock the space (numbers are given in order), copy the
# content into revision n+1 with every block, and point the space at it. Refuses (returns
# the reason) a space that does not exist for this tenant or is archived.
PUBLISH = """
CREATE FUNCTION app_space_publish(
    p_tenant uuid, p_space uuid, p_author_kind text, p_author_id uuid, p_note text
) RETURNS TABLE (outcome text, revision_id uuid, number integer)
LANGUAGE plpgsql
AS $$
DECLARE
    v_status text;
    v_number integer;
    v_revision uuid := gen_random_uuid();
BEGIN
    SELECT s.status INTO v_status FROM public.spaces s
    WHERE s.tenant_id = p_tenant AND s.id = p_space FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::integer;
        RETURN;
    END IF;
    IF v_status = 'archived' THEN
        RETURN QUERY SELECT 'archived'::text, NULL::uuid, NULL::integer;
        RETURN;
    END IF;
    SELECT coalesce(max(r.number), 0) + 1 INTO v_number FROM public.space_revisions r
    WHERE r.tenant_id = p_tenant AND r.space_id = p_space;
    INSERT INTO public.space_revisions
        (tenant_id, id, space_id, number, title, slug, description, note, author_kind, author_id)
    SELECT s.tenant_id, v_revision, s.id, v_number, s.title, s.slug, s.description,
        coalesce(p_note, ''), p_author_kind, p_author_id
    FROM public.spaces s WHERE s.tenant_id = p_tenant AND s.id = p_space;
    INSERT INTO public.block_revisions
        (tenant_id, revision_id, block_id, space_id, kind, position, body, body_compact,
         template_block_id, overridden, created_at, updated_at)
    SELECT b.tenant_id, v_revision, b.id, b.space_id, b.kind, b.position, b.body,
        b.body_compact, b.template_block_id, b.overridden, b.created_at, b.updated_at
    FROM public.blocks b WHERE b.tenant_id = p_tenant AND b.space_id = p_space;
    UPDATE public.spaces s SET published_revision_id = v_revision, status = 'published',
        published_at = now(), updated_at = now()
    WHERE s.tenant_id = p_tenant AND s.id = p_space;
    RETURN QUERY SELECT 'published'::text, v_revision, v_number;
END
$$
"""

# spaces published before revisions existed: their current content becomes revision 1
BACKFILL = """
DO $$
DECLARE
    v_tenant uuid;
    v_space record;
BEGIN
    FOR v_tenant IN SELECT id FROM tenants LOOP
        PERFORM set_config('app.tenant_id', v_tenant::text, true);
        FOR v_space IN SELECT id, published_at, updated_at FROM spaces
                       WHERE tenant_id = v_tenant AND status = 'published' LOOP
            PERFORM app_space_publish(v_tenant, v_space.id, 'system', NULL,
                                      'Published before revisions were kept');
            -- as it was: published then, last changed then
            UPDATE space_revisions SET created_at = coalesce(v_space.published_at, created_at)
            WHERE tenant_id = v_tenant AND space_id = v_space.id;
            UPDATE spaces SET published_at = v_space.published_at,
                updated_at = v_space.updated_at
            WHERE tenant_id = v_tenant AND id = v_space.id;
        END LOOP;
    END LOOP;
    PERFORM set_config('app.tenant_id', '', true);
END
$$
"""


def _delete_tenant() -> str:
    """`app_delete_tenant` (migration 0017) whose ordering skips ON DELETE SET NULL edges."""
    previous: str = by_revision("0017").DELETE_TENANT
    edge = "AND f.conrelid <> f.confrelid"
    assert edge in previous
    previous = previous.replace(edge, f"{edge}\n                AND f.confdeltype <> 'n'", 1)
    return previous.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade() -> None:
    for statement in UP:
        op.execute(statement)
    for table in ("space_revisions", "block_revisions"):
        for statement in tenant_rls(table):
            op.execute(statement)
        # immutable: the application adds revisions and reads them, nothing else
        op.execute(grant_app(table, "SELECT, INSERT"))
    op.execute(PUBLISH)
    op.execute(
        f"GRANT EXECUTE ON FUNCTION app_space_publish(uuid, uuid, text, uuid, text) TO {APP_ROLE}"
    )
    for statement in published.recreate():
        op.execute(statement)
    op.execute(_delete_tenant())
    op.execute(BACKFILL)


def downgrade() -> None:
    op.execute(
        by_revision("0017").DELETE_TENANT.replace(
            "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1
        )
    )
    op.execute("DROP SCHEMA published CASCADE")
    op.execute("DROP FUNCTION app_space_publish(uuid, uuid, text, uuid, text)")
    op.execute("ALTER TABLE spaces DROP COLUMN published_revision_id")
    op.execute("DROP TABLE block_revisions")
    op.execute("DROP TABLE space_revisions")
