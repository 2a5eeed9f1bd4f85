"""Preview links: a credential of kind `preview` that reads one space's draft.

A preview is a row of `api_tokens` like every other credential (only its hash is stored,
`revoked_at` and `expires_at` checked by `app_token_match` on every request), bound to one
space by `space_ids`. From a page on another origin it is allowed where a visitor session
is: the tenant's live widget keys' origins and the tenant's list.

Revision ID: 0033
Revises: 0032
"""

from alembic import op

from migrations.revisions import by_revision

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

KINDS = "'member', 'partner', 'widget', 'subject', 'visitor'"
VISITOR = "WHEN 'visitor' THEN"


def _cors_origins() -> str:
    """Migration 0016's `app_cors_origins`, a preview taking a visitor's origins, in
    PL/pgSQL as migration 0022 keeps it."""
    sql = by_revision("0016").CORS_ORIGINS
    head, rest = sql.split(VISITOR, 1)
    visitors, tail = rest.split("ELSE", 1)
    sql = f"{head}{VISITOR}{visitors}WHEN 'preview' THEN{visitors}ELSE{tail}"
    plpgsql: str = by_revision("0022").in_plpgsql(sql)
    return plpgsql


def _kinds(kinds: str) -> None:
    op.execute("ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_kind_check")
    op.execute(
        f"ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_kind_check CHECK (kind IN ({kinds}))"
    )


def upgrade() -> None:
    _kinds(f"{KINDS}, 'preview'")
    # a preview names exactly one space
    op.execute(
        "ALTER TABLE api_tokens ADD CONSTRAINT ck_api_tokens_preview "
        "CHECK (kind <> 'preview' OR cardinality(space_ids) = 1)"
    )
    op.execute(_cors_origins())


def downgrade() -> None:
    op.execute(by_revision("0022").in_plpgsql(by_revision("0016").CORS_ORIGINS))
    op.execute("DELETE FROM api_tokens WHERE kind = 'preview'")
    op.execute("ALTER TABLE api_tokens DROP CONSTRAINT ck_api_tokens_preview")
    _kinds(KINDS)
