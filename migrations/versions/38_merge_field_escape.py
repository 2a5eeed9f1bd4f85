"""Merge fields: an escape for a literal `{{` (docs/content.md "Merge fields").

`\\{{` reads as a literal `{{` and `\\\\{{` as a backslash before a merge field, as in
Handlebars; `app_merge_fields` is replaced to read them as store/merge_fields.py `TOKENS`
does. It works on the body's JSON text, where each backslash of the text is two.

Revision ID: 0040
Revises: 0039
"""

from alembic import op

from migrations.revisions import by_revision

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None

# store/merge_fields.py TOKENS for JSON text: group 1 a kept backslash (two written before
# `{{`), group 2 an escaped `{{`, then the merge field (groups 3-5)
TOKENS = r"(\\\\\\\\)(?=\{\{)|(\\\\\{\{)|" + by_revision("0035").PATTERN

# the same function but for the escape; its grants stay (same signature)
MERGE_FIELDS = f"""
CREATE OR REPLACE FUNCTION app_merge_fields(p_body jsonb, p_values jsonb)
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
    v_parts := regexp_split_to_array(v_text, '{TOKENS}');
    v_out := v_parts[1];
    FOR v_match IN SELECT m FROM regexp_matches(v_text, '{TOKENS}', 'g') AS m LOOP
        v_n := v_n + 1;
        IF v_match[1] IS NOT NULL THEN
            v_out := v_out || repeat(chr(92), 2);  -- one backslash, as JSON text
        ELSIF v_match[2] IS NOT NULL THEN
            v_out := v_out || '{{{{';
        ELSE
            v_value := p_values ->> v_match[3];
            IF v_value IS NOT NULL AND v_value <> '' THEN
                v_json := to_json(v_value)::text;
                v_out := v_out || substr(v_json, 2, length(v_json) - 2);
            ELSE
                v_out := v_out || coalesce(btrim(v_match[5], ' '), '');
            END IF;
        END IF;
        v_out := v_out || v_parts[v_n];
    END LOOP;
    RETURN v_out::jsonb;
END
$$
"""


def upgrade() -> None:
    op.execute(MERGE_FIELDS)


def downgrade() -> None:
    op.execute(
        by_revision("0035").MERGE_FIELDS.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    )
