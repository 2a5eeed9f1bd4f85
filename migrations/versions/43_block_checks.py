"""A block write without its checks read again from the catalogue (bench/README.md, q3).

PostgreSQL reads a table's CHECK constraints and generated columns from their stored
expression text on every statement that writes the table, and prepares them again: for a
`blocks` update, 16 % of the instructions of the whole `blockUpdate` statement, most of it
the kind's list of nine names. A domain's checks are prepared once per connection (the type
cache), and are checked only when a value of the domain is written. So:

- `blocks.kind`, `blocks.position`, `blocks.body` and `blocks.bodies` take domains with the
  same checks, under the same names: `block_kind` (`blocks_kind_check`; a new kind is added
  to the domain's check), `block_position` (`blocks_position_check`), `block_json`
  (`blocks_body_check`; `bodies` too; not `json_object`, a keyword since PostgreSQL 16). The table's CHECK constraints go.
- `blocks.has_merge_fields` is no longer a generated column: the trigger that makes
  `body_compact` whenever `body` is written (migration 0034) sets it, with the same
  expression.

Revision ID: 0045
Revises: 0044
"""

from alembic import op

from migrations.revisions import by_revision

revision = "0045"
down_revision = "0044"
branch_labels = None
depends_on = None

KINDS = ("heading", "rich_text", "link", "file", "video", "embed", "checklist", "image", "gallery")
_LISTED = ", ".join(f"'{k}'" for k in KINDS)

DOMAINS = [
    (
        "CREATE DOMAIN block_kind AS varchar(32) "
        f"CONSTRAINT blocks_kind_check CHECK (VALUE IN ({_LISTED}))"
    ),
    "CREATE DOMAIN block_position AS integer CONSTRAINT blocks_position_check CHECK (VALUE >= 0)",
    (
        "CREATE DOMAIN block_json AS jsonb "
        "CONSTRAINT blocks_body_check CHECK (jsonb_typeof(VALUE) = 'object')"
    ),
]

CHECKS = (
    f"ADD CONSTRAINT blocks_kind_check CHECK (kind IN ({_LISTED})), "
    "ADD CONSTRAINT blocks_position_check CHECK (position >= 0), "
    "ADD CONSTRAINT blocks_body_check CHECK (jsonb_typeof(body) = 'object'), "
    "ADD CONSTRAINT blocks_bodies_object CHECK (jsonb_typeof(bodies) = 'object')"
)

TRIGGER = (
    "CREATE TRIGGER blocks_body_compact BEFORE INSERT OR UPDATE OF body, body_compact "
    "ON blocks FOR EACH ROW EXECUTE FUNCTION app_blocks_body_compact()"
)

# migration 0043's, and the merge-field test the generated column made (migration 0035)
COMPACT_TRIGGER = """
CREATE OR REPLACE FUNCTION app_blocks_body_compact() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.body_compact := public.app_json_compact(NEW.body);
    NEW.has_merge_fields := strpos(NEW.body::text, '{{') > 0;
    RETURN NEW;
END
$$
"""


def upgrade() -> None:
    for statement in DOMAINS:
        op.execute(statement)
    op.execute(COMPACT_TRIGGER)
    op.execute("ALTER TABLE blocks ALTER COLUMN has_merge_fields DROP EXPRESSION")
    # the trigger names `body`: off while the column's type changes
    op.execute("DROP TRIGGER blocks_body_compact ON blocks")
    op.execute(
        "ALTER TABLE blocks DROP CONSTRAINT blocks_kind_check, "
        "DROP CONSTRAINT blocks_position_check, DROP CONSTRAINT blocks_body_check, "
        "DROP CONSTRAINT blocks_bodies_object, "
        "ALTER COLUMN kind TYPE block_kind, ALTER COLUMN position TYPE block_position, "
        "ALTER COLUMN body TYPE block_json, ALTER COLUMN bodies TYPE block_json"
    )
    op.execute(TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER blocks_body_compact ON blocks")
    op.execute(
        "ALTER TABLE blocks ALTER COLUMN kind TYPE varchar(32), "
        "ALTER COLUMN position TYPE integer, ALTER COLUMN body TYPE jsonb, "
        f"ALTER COLUMN bodies TYPE jsonb, {CHECKS}"
    )
    op.execute(
        "ALTER TABLE blocks DROP COLUMN has_merge_fields, ADD COLUMN has_merge_fields boolean "
        f"GENERATED ALWAYS AS ({by_revision('0035').HAS}) STORED"
    )
    op.execute(TRIGGER)
    op.execute(by_revision("0043").COMPACT_TRIGGER)
    for domain in ("block_json", "block_position", "block_kind"):
        op.execute(f"DROP DOMAIN {domain}")
