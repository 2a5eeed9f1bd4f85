"""Merge-field reads audited and their withheld values reported (docs/content.md "Templates
and merge fields").

- `app_merge_values` also names whose contact values they are (`subject`: the visitor's
  own contact, or the contact the space is personalised for); no merge field can name it
  (a merge field's name has a dot).
- `app_merge_audit(body, values)`: the audit item `subject|fullName,company` of the contact
  fields a body's merge fields disclosed to the reader (in full or masked; a fallback
  discloses nothing), as a direct read of `Contact.fullName` and `Contact.company` records.
- `app_merge_withheld(body, values, name, company)`: which of the contact's values a body's
  merge fields withheld by the reader's decision (`name`, `company`), for
  `extensions.redactions`.

Both are called only for a body that holds a merge field (`blocks.has_merge_fields`);
store/merge_fields.py mirrors them for the resolver path.

Revision ID: 0048
Revises: 0047
"""

from alembic import op

from migrations.revisions import by_revision
from migrations.rls import APP_ROLE

revision = "0048"
down_revision = "0047"
branch_labels = None
depends_on = None

_MERGE = by_revision("0035")
# what app_merge_fields reads (migration 0040): group 3 a merge field, not an escaped `{{`
TOKENS = by_revision("0040").TOKENS

MERGE_VALUES = _MERGE.MERGE_VALUES.replace(
    "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1
).replace(
    "'member.fullName', m.full_name))",
    "'member.fullName', m.full_name, 'subject', c.id))",
    1,
)
assert "'subject', c.id" in MERGE_VALUES

# the merge fields a body names, once each (store/merge_fields.py `names`)
_NAMES = f"""
    SELECT array_agg(DISTINCT m[3]) INTO v_names
      FROM regexp_matches(p_body::text, '{TOKENS}', 'g') AS m WHERE m[3] IS NOT NULL;
"""

MERGE_AUDIT = f"""
CREATE FUNCTION app_merge_audit(p_body jsonb, p_values jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE SECURITY INVOKER
AS $$
DECLARE
    v_names text[];
    v_name boolean;
    v_company boolean;
BEGIN
    IF p_values ->> 'subject' IS NULL THEN
        RETURN NULL;
    END IF;
    {_NAMES}
    v_name := coalesce(('contact.firstName' = ANY(v_names)
                        AND coalesce(p_values ->> 'contact.firstName', '') <> '')
                       OR ('contact.fullName' = ANY(v_names)
                           AND coalesce(p_values ->> 'contact.fullName', '') <> ''), false);
    v_company := coalesce('contact.company' = ANY(v_names)
                          AND coalesce(p_values ->> 'contact.company', '') <> '', false);
    IF NOT (v_name OR v_company) THEN
        RETURN NULL;
    END IF;
    RETURN (p_values ->> 'subject') || '|' || concat_ws(',',
        CASE WHEN v_name THEN 'fullName' END, CASE WHEN v_company THEN 'company' END);
END
$$
"""

MERGE_WITHHELD = f"""
CREATE FUNCTION app_merge_withheld(p_body jsonb, p_values jsonb, p_name text, p_company text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE SECURITY INVOKER
AS $$
DECLARE
    v_names text[];
    v_name boolean;
    v_company boolean;
BEGIN
    IF p_values ->> 'subject' IS NULL THEN
        RETURN NULL;
    END IF;
    {_NAMES}
    v_name := coalesce(p_name NOT IN ('read', 'read_masked')
                       AND ('contact.firstName' = ANY(v_names)
                            OR 'contact.fullName' = ANY(v_names)), false);
    v_company := coalesce(p_company NOT IN ('read', 'read_masked')
                          AND 'contact.company' = ANY(v_names), false);
    RETURN nullif(concat_ws(',',
        CASE WHEN v_name THEN 'name' END, CASE WHEN v_company THEN 'company' END), '');
END
$$
"""

SIGNATURES = (
    "app_merge_audit(jsonb, jsonb)",
    "app_merge_withheld(jsonb, jsonb, text, text)",
)


def upgrade() -> None:
    op.execute(MERGE_VALUES)
    op.execute(MERGE_AUDIT)
    op.execute(MERGE_WITHHELD)
    for signature in SIGNATURES:
        op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}")


def downgrade() -> None:
    for signature in reversed(SIGNATURES):
        op.execute(f"DROP FUNCTION {signature}")
    op.execute(_MERGE.MERGE_VALUES.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
