"""A block's body also as the API writes it: `blocks.body_compact`, kept by a trigger.

PostgreSQL writes JSONB with spaces (`{"a": 1, "b": [1, 2]}`), the API without. A compiled
read sent every body as PostgreSQL writes it and the server wrote each again (1,000 bodies
for the benchmark's q2: the biggest part of its CPU after the database's, and the
database's own JSONB-to-text of each body). Now the text is made once per write: the
trigger sets `body_compact` whenever `body` (or `body_compact`) is written, and a compiled
read sends it as it is (compiler/objects.py).

`json_strip_nulls` writes JSON without spaces, with strings escaped as JSONB and the API
(orjson) escape them, numbers as they are given and object members in JSONB's order. It
also drops members whose value is null, and a number with a fraction (`2.50`) or of 19
digits or more would be written otherwise by the API (after a parse): for such a body the
column is NULL and the read writes the body again as before (compiler/run.py `compact`).

Revision ID: 0034
Revises: 0033
"""

from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

# PL/pgSQL: its plans are kept for the session (a SQL function's would be made per call)
COMPACT = """
CREATE FUNCTION app_json_compact(p_value jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog AS $$
DECLARE
    v_text text := p_value::text;
BEGIN
    IF v_text IS NULL THEN
        RETURN NULL;
    END IF;
    IF strpos(v_text, ': null') > 0 AND jsonb_strip_nulls(p_value) <> p_value THEN
        RETURN NULL;  -- json_strip_nulls would drop a member
    END IF;
    IF strpos(v_text, '.') > 0 OR v_text ~ '[0-9]{19}' THEN
        -- digits or a point in strings are common: look at the numbers themselves
        IF EXISTS (
            SELECT 1 FROM jsonb_path_query(p_value, 'strict $.** ? (@.type() == "number")') AS n
            WHERE n::text ~ '[.]|[0-9]{19}'
        ) THEN
            RETURN NULL;
        END IF;
    END IF;
    RETURN json_strip_nulls(v_text::json)::text;
END
$$
"""

TRIGGER_FUNCTION = """
CREATE FUNCTION app_blocks_body_compact() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    NEW.body_compact := app_json_compact(NEW.body);
    RETURN NEW;
END
$$
"""

TRIGGER = """
CREATE TRIGGER blocks_body_compact BEFORE INSERT OR UPDATE OF body, body_compact ON blocks
FOR EACH ROW EXECUTE FUNCTION app_blocks_body_compact()
"""


def upgrade() -> None:
    op.execute("ALTER TABLE blocks ADD COLUMN body_compact text")
    op.execute(COMPACT)
    op.execute(TRIGGER_FUNCTION)
    op.execute(TRIGGER)
    # the existing bodies, across tenants (the owner is held to row-level security)
    op.execute("ALTER TABLE blocks NO FORCE ROW LEVEL SECURITY")
    op.execute("UPDATE blocks SET body_compact = NULL")
    op.execute("ALTER TABLE blocks FORCE ROW LEVEL SECURITY")


def downgrade() -> None:
    op.execute("DROP TRIGGER blocks_body_compact ON blocks")
    op.execute("DROP FUNCTION app_blocks_body_compact()")
    op.execute("DROP FUNCTION app_json_compact(jsonb)")
    op.execute("ALTER TABLE blocks DROP COLUMN body_compact")
