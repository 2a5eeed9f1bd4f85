"""Templates, personalised spaces and merge fields (docs/content.md "Templates and merge
fields").

- `spaces.is_template`; a personalised space names its template (`template_id`), the
  contact it is for (`contact_id`: erasing the contact deletes the space), the member named
  by `{{member.fullName}}` (`member_id`), whether it follows its template
  (`follows_template`) and when it last took the template's blocks (`synced_at`).
- `blocks.template_block_id`: the template block a block was copied from (no foreign key:
  a template block removed since is noticed at the next republish, which removes the copy);
  `blocks.overridden`: a member changed the copy (`app_block_update` sets it), so a
  republish of the template leaves it alone.
- `personalisation_jobs`: one `spacePersonalise` call, its counts and state.
- Merge fields are resolved when read, by `app_merged(has_merge_fields, body, values)`: an
  inlinable SQL function, so a body without `{{` (the stored `blocks.has_merge_fields`)
  costs a column test and no call; `app_merge_fields` (PL/pgSQL)
  fills the fields of the body's JSON text; `app_merge_values` (PL/pgSQL) gives a reader's
  values with the masks of policies/redaction.py (compiler/sql.py writes the same).

Revision ID: 0035
Revises: 0034
"""

from alembic import op

from migrations.revisions import by_revision
from migrations.rls import APP_ROLE, grant_app, tenant_rls

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

# store/merge_fields.py PATTERN, the same expression
PATTERN = r"\{\{ *([a-z]+\.[A-Za-z]+) *(\|([^{}" + '"' + r"]*))?\}\}"

HAS = "strpos(body::text, '{{') > 0"

UP = [
    "ALTER TABLE spaces ADD COLUMN is_template boolean NOT NULL DEFAULT false",
    "ALTER TABLE spaces ADD COLUMN template_id uuid",
    "ALTER TABLE spaces ADD COLUMN contact_id uuid",
    "ALTER TABLE spaces ADD COLUMN member_id uuid",
    "ALTER TABLE spaces ADD COLUMN follows_template boolean NOT NULL DEFAULT false",
    "ALTER TABLE spaces ADD COLUMN synced_at timestamptz",
    """ALTER TABLE spaces ADD CONSTRAINT spaces_template_fkey
       FOREIGN KEY (tenant_id, template_id) REFERENCES spaces (tenant_id, id)
       ON DELETE SET NULL (template_id)""",
    # erasure deletes the space first (models/space.py SubjectLink); this is the backstop
    """ALTER TABLE spaces ADD CONSTRAINT spaces_contact_fkey
       FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id) ON DELETE CASCADE""",
    """ALTER TABLE spaces ADD CONSTRAINT spaces_member_fkey
       FOREIGN KEY (tenant_id, member_id) REFERENCES members (tenant_id, id)
       ON DELETE SET NULL (member_id)""",
    """ALTER TABLE spaces ADD CONSTRAINT spaces_template_not_personalised
       CHECK (NOT (is_template AND template_id IS NOT NULL))""",
    # one personalised space per contact and template: a second call skips the contact
    """CREATE UNIQUE INDEX ux_spaces_personalised ON spaces (tenant_id, template_id, contact_id)
       WHERE template_id IS NOT NULL AND contact_id IS NOT NULL""",
    "CREATE INDEX ix_spaces_contact ON spaces (tenant_id, contact_id) WHERE contact_id IS NOT NULL",
    "ALTER TABLE blocks ADD COLUMN template_block_id uuid",
    "ALTER TABLE blocks ADD COLUMN overridden boolean NOT NULL DEFAULT false",
    # kept with the row: a read of a block without merge fields tests a column, not its text
    f"ALTER TABLE blocks ADD COLUMN has_merge_fields boolean GENERATED ALWAYS AS ({HAS}) STORED",
    """
    CREATE TABLE personalisation_jobs (
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        id uuid NOT NULL,
        template_id uuid,
        requested_by uuid,
        state varchar(16) NOT NULL DEFAULT 'running'
            CHECK (state IN ('running', 'completed', 'failed')),
        requested integer NOT NULL CHECK (requested >= 0),
        created integer NOT NULL DEFAULT 0,
        skipped integer NOT NULL DEFAULT 0,
        invited integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        PRIMARY KEY (tenant_id, id),
        FOREIGN KEY (tenant_id, template_id) REFERENCES spaces (tenant_id, id)
            ON DELETE SET NULL (template_id),
        FOREIGN KEY (tenant_id, requested_by) REFERENCES members (tenant_id, id)
            ON DELETE SET NULL (requested_by)
    )
    """,
]

# the fields of a body's JSON text filled in: the value as JSON string content, else the
# fallback as written (already JSON text), else nothing. NULL values: fallbacks only
MERGE_FIELDS = f"""
CREATE FUNCTION app_merge_fields(p_body jsonb, p_values jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SECURITY INVOKER
AS $$
DECLARE
    v_text text := p_body::text;
    v_parts text[];
    v_out text;
    v_match text[];
    v_value text;
    v_json text;
    v_n integer := 1;
BEGIN
    v_parts := regexp_split_to_array(v_text, '{PATTERN}');
    v_out := v_parts[1];
    FOR v_match IN SELECT m FROM regexp_matches(v_text, '{PATTERN}', 'g') AS m LOOP
        v_n := v_n + 1;
        v_value := p_values ->> v_match[1];
        IF v_value IS NOT NULL AND v_value <> '' THEN
            v_json := to_json(v_value)::text;
            v_out := v_out || substr(v_json, 2, length(v_json) - 2);
        ELSE
            v_out := v_out || coalesce(btrim(v_match[3], ' '), '');
        END IF;
        v_out := v_out || v_parts[v_n];
    END LOOP;
    RETURN v_out::jsonb;
END
$$
"""

# inlined into the calling statement: `p_values` (a call of app_merge_values) is evaluated
# only for a body that holds a merge field (`blocks.has_merge_fields`)
MERGED = """
CREATE FUNCTION app_merged(p_has boolean, p_body jsonb, p_values jsonb)
RETURNS jsonb
LANGUAGE sql STABLE SECURITY INVOKER
AS $$
    SELECT CASE WHEN p_has THEN app_merge_fields(p_body, p_values) ELSE p_body END
$$
"""

# compiler/sql.py mask_name, mask_text
WHITESPACE_RUN = (
    "E'[\\t\\n\\u000b\\u000c\\r\\u001c-\\u001f \\u0085\\u00a0\\u1680\\u2000-\\u200a"
    "\\u2028\\u2029\\u202f\\u205f\\u3000]+'"
)


def _mask_name(column: str) -> str:
    return (
        f"CASE WHEN {column} IS NULL THEN NULL ELSE coalesce((SELECT string_agg(left(w, 1) "
        f"|| '***', ' ' ORDER BY n) FROM regexp_split_to_table({column}, {WHITESPACE_RUN}) "
        "WITH ORDINALITY AS _w(w, n) WHERE w <> ''), '***') END"
    )


def _mask_text(column: str) -> str:
    return f"CASE WHEN {column} = '' THEN '***' ELSE left({column}, 1) || '***' END"


def _decided(decision: str, column: str, mask: str) -> str:
    return f"CASE {decision} WHEN 'read' THEN {column} WHEN 'read_masked' THEN {mask} ELSE NULL END"


# One reader's values for the blocks of one space. `p_contact`: whose contact values (the
# visitor's own); NULL: the contact the space is personalised for. `p_name`, `p_company`:
# the reader's decision on Contact.fullName and Contact.company (read, read_masked, other:
# withheld, so the fallback shows). The first name is the first word of the full name.
MERGE_VALUES = f"""
CREATE FUNCTION app_merge_values(
    p_tenant uuid, p_space uuid, p_contact uuid, p_name text, p_company text)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY INVOKER
AS $$
DECLARE
    v_values jsonb;
BEGIN
    SELECT jsonb_strip_nulls(jsonb_build_object(
               'contact.firstName', {_decided("p_name", "x.first", _mask_name("x.first"))},
               'contact.fullName', {_decided("p_name", "c.full_name", _mask_name("c.full_name"))},
               'contact.company', {_decided("p_company", "c.company", _mask_text("c.company"))},
               'member.fullName', m.full_name))
      INTO v_values
      FROM public.spaces s
      LEFT JOIN public.contacts c ON c.tenant_id = s.tenant_id AND c.id = coalesce(p_contact, s.contact_id)
      LEFT JOIN public.members m ON m.tenant_id = s.tenant_id AND m.id = s.member_id
      CROSS JOIN LATERAL (SELECT (SELECT w FROM regexp_split_to_table(c.full_name,
                                  {WHITESPACE_RUN}) WITH ORDINALITY AS _f(w, n)
                                  WHERE w <> '' ORDER BY n LIMIT 1) AS first) x
     WHERE s.tenant_id = p_tenant AND s.id = p_space;
    RETURN coalesce(v_values, '{{}}'::jsonb);
END
$$
"""

BLOCK_UPDATE_SIGNATURE = "app_block_update(uuid, uuid, text[], jsonb[], jsonb, jsonb, bytea)"


def _block_update(overrides: bool) -> str:
    text: str = by_revision("0021").BLOCK_UPDATE
    text = text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    if overrides:
        # a member's change of a copied block is theirs: the template's republish keeps it
        text = text.replace(
            "updated_at = now()",
            "updated_at = now(), overridden = b.template_block_id IS NOT NULL",
            1,
        )
    return text


SIGNATURES = (
    "app_merge_fields(jsonb, jsonb)",
    "app_merged(boolean, jsonb, jsonb)",
    "app_merge_values(uuid, uuid, uuid, text, text)",
)


def upgrade() -> None:
    for statement in UP:
        op.execute(statement)
    for statement in tenant_rls("personalisation_jobs"):
        op.execute(statement)
    op.execute(grant_app("personalisation_jobs", "SELECT, INSERT, UPDATE"))
    op.execute(MERGE_FIELDS)
    op.execute(MERGED)
    op.execute(MERGE_VALUES)
    for signature in SIGNATURES:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")
    op.execute(_block_update(True))


def downgrade() -> None:
    op.execute(_block_update(False))
    for signature in reversed(SIGNATURES):
        op.execute(f"DROP FUNCTION {signature}")
    op.execute("DROP TABLE personalisation_jobs")
    op.execute("ALTER TABLE blocks DROP COLUMN has_merge_fields")
    op.execute("ALTER TABLE blocks DROP COLUMN overridden")
    op.execute("ALTER TABLE blocks DROP COLUMN template_block_id")
    op.execute("DROP INDEX ix_spaces_contact")
    op.execute("DROP INDEX ux_spaces_personalised")
    for column in (
        "synced_at",
        "follows_template",
        "member_id",
        "contact_id",
        "template_id",
        "is_template",
    ):
        op.execute(f"ALTER TABLE spaces DROP COLUMN {column}")
