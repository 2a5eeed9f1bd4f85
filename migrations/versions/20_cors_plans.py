"""The CORS allow-list functions in PL/pgSQL, so their plans are kept.

`app_cors_origins` and `app_origin_known` were SQL functions with the owner's rights
(SECURITY DEFINER), which PostgreSQL never inlines; and a SQL function that is not inlined
plans its query again on every call. Measured on the benchmark's data: 0.4 ms of planning
per call, which every request from a browser paid (the fast lane checks the origin inside
its statement, microspace/lane/lane.py `_credential`). A PL/pgSQL function keeps its
statements' plans for the session. Same queries, same rights, same answers.

Revision ID: 0022
Revises: 0021
"""

from alembic import op

from migrations.revisions import by_revision

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def in_plpgsql(sql_function: str) -> str:
    """A SQL function's definition, the same query returned by a PL/pgSQL body."""
    head, body = sql_function.split("AS $$\n", 1)
    query = body.rsplit("\n$$", 1)[0]
    head = head.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    assert "LANGUAGE sql" in head
    return (
        head.replace("LANGUAGE sql", "LANGUAGE plpgsql", 1)
        + f"AS $$\nBEGIN\n    RETURN (\n{query}\n    );\nEND\n$$\n"
    )


def upgrade() -> None:
    # as migrations 0016 and 0011 wrote them
    op.execute(in_plpgsql(by_revision("0016").CORS_ORIGINS))
    op.execute(in_plpgsql(by_revision("0011").ORIGIN_KNOWN))


def downgrade() -> None:
    replace = ("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    op.execute(by_revision("0016").CORS_ORIGINS)
    op.execute(by_revision("0011").ORIGIN_KNOWN.replace(*replace))
