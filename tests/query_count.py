"""Count the SQL statements a request sends: through the app engine, or on any asyncpg
connection (the fast lane's raw connections)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


@contextmanager
def count_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


# SQLAlchemy's ping of an idle asyncpg connection (BEGIN, `;`, ROLLBACK) and its reset
HOUSEKEEPING = frozenset({"BEGIN", "", "ROLLBACK", "SELECT 1", "RESET ALL"})


def raw_statements(monkeypatch, arguments: list[tuple] | None = None) -> list[str]:  # type: ignore[no-untyped-def]
    """What every asyncpg connection sends from now on (the fast lane talks to asyncpg
    directly, around SQLAlchemy's events); `arguments`, if given, gets each one's arguments
    (to EXPLAIN a statement as it ran)."""
    import asyncpg

    sent: list[str] = []
    for method in ("execute", "fetch", "fetchrow", "fetchval"):
        original = getattr(asyncpg.Connection, method)

        def counting(self, query, *args, __original=original, **kwargs):  # type: ignore[no-untyped-def]
            # not a request's: the pool's reset of a connection handed back a moment later,
            # or its ping of an idle one, which a slow machine may put in the window
            if query.strip().upper().rstrip(";") not in HOUSEKEEPING:
                sent.append(query)
                if arguments is not None:
                    arguments.append(args)
            return __original(self, query, *args, **kwargs)

        monkeypatch.setattr(asyncpg.Connection, method, counting)
    return sent
