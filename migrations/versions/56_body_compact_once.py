"""The body trigger writes the body's text once and tests its numbers without a regex.

`app_blocks_body_compact` (migration 0045) called `app_json_compact` (PL/pgSQL, migration
0034: its own call, the body written to text again) and wrote the body to text a second time
for `has_merge_fields`. Now it writes the text once and passes it to
`app_json_compact(body, text)`, a SQL function PostgreSQL inlines into the trigger's
expression; `app_json_compact(body)` is that function given the body's text.

The compact text is still NULL exactly when a number's text holds a point or 19 digits in a
row (or `json_strip_nulls` would drop a member). Testing the whole text against
`[0-9]{19}` first cost more than the rest of the trigger (PostgreSQL builds the regex's
automaton on every call): now a text with a point tests its numbers' text as before (all of
them at once, as one array's text: its digits are runs only within one number), and a text
without one has only integers, written by PostgreSQL without an exponent, so 19 digits is
an absolute value of 10^18 or more (a JSON path test).

Instructions per `blockUpdate` statement (bench/README.md, q3, the same method):
723 k -> 711 k (-2 %).

And `app_lane_check_plain` (migration 0057) is executable by the application role only, as
`app_lane_check` is (migration 0021).

Revision ID: 0058
Revises: 0057
"""

from alembic import op

from core.config import APP_ROLE
from migrations.revisions import by_revision

revision = "0058"
down_revision = "0057"
branch_labels = None
depends_on = None

# `p_text` is `p_value::text`
COMPACT_OF_TEXT = """
CREATE FUNCTION app_json_compact(p_value jsonb, p_text text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        -- json_strip_nulls would drop a member
        WHEN strpos(p_text, ': null') > 0 AND jsonb_strip_nulls(p_value) <> p_value THEN NULL
        -- a number with a point, or of 19 digits (points in strings are common)
        WHEN strpos(p_text, '.') > 0
             AND jsonb_path_query_array(p_value, 'strict $.** ? (@.type() == "number")')::text
                 ~ '[.]|[0-9]{19}' THEN NULL
        -- no point anywhere: integers only, of 19 digits from 10^18
        WHEN jsonb_path_exists(
                 p_value, 'strict $.** ? (@.type() == "number" && (@ >= 1e18 || @ <= -1e18))')
             THEN NULL
        ELSE json_strip_nulls(p_text::json)::text
    END
$$
"""

COMPACT = """
CREATE OR REPLACE FUNCTION app_json_compact(p_value jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT public.app_json_compact(p_value, p_value::text)
$$
"""

COMPACT_TRIGGER = """
CREATE OR REPLACE FUNCTION app_blocks_body_compact() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_text text := NEW.body::text;
BEGIN
    NEW.body_compact := public.app_json_compact(NEW.body, v_text);
    NEW.has_merge_fields := strpos(v_text, '{{') > 0;
    RETURN NEW;
END
$$
"""


PLAIN_CHECK = "app_lane_check_plain(uuid, jsonb, bytea)"


def upgrade() -> None:
    op.execute(COMPACT_OF_TEXT)
    op.execute(COMPACT)
    op.execute(COMPACT_TRIGGER)
    op.execute(f"REVOKE ALL ON FUNCTION {PLAIN_CHECK} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {PLAIN_CHECK} TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(f"GRANT EXECUTE ON FUNCTION {PLAIN_CHECK} TO PUBLIC")
    op.execute(f"REVOKE ALL ON FUNCTION {PLAIN_CHECK} FROM {APP_ROLE}")
    op.execute(by_revision("0045").COMPACT_TRIGGER)
    # migration 0034's, without the search_path migration 0043 reset
    compact: str = by_revision("0034").COMPACT
    compact = compact.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    compact = compact.replace(" SET search_path = pg_catalog", "", 1)
    op.execute(compact)
    op.execute("DROP FUNCTION app_json_compact(jsonb, text)")
