"""`blockUpdate`'s check without the origin's branch for a request that names no origin.

Measured by instructions per statement of the lane's `blockUpdate` statement (bench/README.md,
q3: callgrind, a private PostgreSQL 15 with a copy of the bench database; 777 k before):

- `app_lane_check_plain`: `app_lane_check` as it was before the origin joined it (migration
  0053): for a `p_who` of six elements (no origin) the origin's branch adds nothing to the
  principal it builds (`p_who ->> 6` is NULL), so the two give the same answer; PostgreSQL
  prepares every expression of a plan each time it runs, the branch's too. `app_block_update`
  calls it when `p_who ->> 6` is NULL (a seventh element that is JSON null builds a
  principal of six elements either way: not the same). -35 k.
- both checks compare the token's and the member's tenant with `app_current_tenant()` (the
  callers set it to `p_tenant` first, and the tenant's row is read only when it is that
  one) rather than with the tenant's row: the same condition as the tables' row-level
  security, so PostgreSQL checks it once per row instead of adding a node that checks the
  outer row's tenant against it. -11 k.
- `app_block_update` returns the updated row by `RETURN QUERY UPDATE ... RETURNING` instead
  of into a row variable copied into the result. -15 k.

Together 777 k -> 723 k (-7 %). Same answers: the token re-checked against the remembered
principal, the same row, event and announcement.

Revision ID: 0057
Revises: 0056
"""

from alembic import op

from migrations.revisions import by_revision

revision = "0057"
down_revision = "0056"
branch_labels = None
depends_on = None

# the tenant the callers set (`set_config('app.tenant_id', p_tenant)`), as row-level
# security compares it
TENANT_REPLACEMENTS = (
    (
        "WHERE m.tenant_id = a.tenant_id AND m.id = a.member_id",
        "WHERE m.tenant_id = public.app_current_tenant() AND m.id = a.member_id",
    ),
    ("WHERE a.tenant_id = t.id)", "WHERE a.tenant_id = public.app_current_tenant())"),
    ("WHERE t.id = p_tenant", "WHERE t.id = p_tenant AND t.id = public.app_current_tenant()"),
)


def _tenant_checked(text: str) -> str:
    for old, new in TENANT_REPLACEMENTS:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


LANE_CHECK = _tenant_checked(by_revision("0055").LANE_CHECK)
LANE_CHECK_PLAIN = _tenant_checked(
    by_revision("0053").LANE_CHECK.replace(
        "FUNCTION app_lane_check(", "FUNCTION app_lane_check_plain(", 1
    )
)
assert "app_lane_check_plain(" in LANE_CHECK_PLAIN

CHECK = """        SELECT c.same, c.ended INTO same, v_ended
          FROM app_lane_check(p_tenant, p_who, p_token_hash) AS c;
"""
# the origin's branch only for a principal that names an origin
CHECK_BY_ORIGIN = """        IF p_who ->> 6 IS NULL THEN
            SELECT c.same, c.ended INTO same, v_ended
              FROM app_lane_check_plain(p_tenant, p_who, p_token_hash) AS c;
        ELSE
            SELECT c.same, c.ended INTO same, v_ended
              FROM app_lane_check(p_tenant, p_who, p_token_hash) AS c;
        END IF;
"""
ROW_VARIABLE = "    v_block blocks;\n"
UPDATE_INTO = """        UPDATE blocks AS b
           SET body = p_bodies[array_position(p_kinds, b.kind::text)],
               updated_at = now(), overridden = b.template_block_id IS NOT NULL
         WHERE b.tenant_id = p_tenant AND b.id = p_id AND b.kind = ANY (p_kinds)
        RETURNING b.* INTO v_block;
        IF FOUND THEN
            INSERT INTO domain_events (tenant_id, id, topic, payload)
            VALUES (p_tenant, gen_random_uuid(), 'block.updated', p_event);
            block := v_block;
        END IF;
"""
UPDATE_RETURNED = """        RETURN QUERY UPDATE blocks AS b
           SET body = p_bodies[array_position(p_kinds, b.kind::text)],
               updated_at = now(), overridden = b.template_block_id IS NOT NULL
         WHERE b.tenant_id = p_tenant AND b.id = p_id AND b.kind = ANY (p_kinds)
        RETURNING true, b;
        IF FOUND THEN
            INSERT INTO domain_events (tenant_id, id, topic, payload)
            VALUES (p_tenant, gen_random_uuid(), 'block.updated', p_event);
            RETURN;  -- the row is returned: (true, the block)
        END IF;
"""


def _block_update() -> str:
    """Migration 0050's `app_block_update`, the check by origin, the row returned."""
    text: str = by_revision("0050")._block_update()
    for old, new in ((CHECK, CHECK_BY_ORIGIN), (ROW_VARIABLE, ""), (UPDATE_INTO, UPDATE_RETURNED)):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def upgrade() -> None:
    op.execute(LANE_CHECK)
    op.execute(LANE_CHECK_PLAIN)
    op.execute(_block_update())


def downgrade() -> None:
    op.execute(by_revision("0050")._block_update())
    op.execute("DROP FUNCTION app_lane_check_plain(uuid, jsonb, bytea)")
    op.execute(by_revision("0055").LANE_CHECK)
