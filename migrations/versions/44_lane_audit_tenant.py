"""The audited lane read's audit appends only for a credential of the tenant it was given.

`app_lane_audit` (migration 0042) compared the authenticated principal with the one the
lane remembers, but not its tenant: called with tenant A and a token of tenant B, it
accepted (and `app_authenticate` had signed the principal in for B). The lane only ever
passes the principal's own tenant, but every function taking a credential must give the
shared match's verdict for the tenant it is asked about (tests/test_token_match.py).

Revision ID: 0046
Revises: 0045
"""

from alembic import op

from migrations.revisions import by_revision

revision = "0046"
down_revision = "0045"
branch_labels = None
depends_on = None

MATCH = "bool_and(jsonb_build_array("


def _function(check: str) -> str:
    """Migration 0042's definition, its match preceded by `check`."""
    text: str = by_revision("0042").LANE_AUDIT
    assert MATCH in text
    return text.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1).replace(
        MATCH, f"bool_and({check}jsonb_build_array(", 1
    )


def upgrade() -> None:
    op.execute(_function("a.tenant_id = p_tenant AND "))


def downgrade() -> None:
    op.execute(_function(""))
