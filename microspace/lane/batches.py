"""Lane writes that arrive while others run, sent together: one statement, one commit.

A lane write is one statement that checks its principal and commits by itself
(microspace/lane/lane.py `_write`). Most of what PostgreSQL spends on one is the
transaction around it, not the row: the statement's start, the state PL/pgSQL makes again
in every transaction, the commit; and the server spends a round trip on it. Measured on the
shared bench's `blockUpdate` (docs/performance.md): 140 us of backend CPU for a write
alone, 73 us a write in a statement of four, 59 us in one of eight.

So the writes of one statement text take one turn at a time on a connection. A write that
finds no turn running starts one and is sent at once: a quiet server adds no wait. The
writes that arrive while the turn is sending wait, and its next statement sends them
together, up to `most`: the statement of each with its parameters renumbered, joined by
`UNION ALL`, each row marked with whose it is. PostgreSQL runs the branches one after
another in one transaction; each write's function sets its own tenant
(`set_config(..., true)`) and checks its own principal before it reads or writes anything,
as it does alone, and its payload is made before the next branch runs. One turn rather
than two sends bigger statements, and measured faster (docs/performance.md). A statement
that has run for `stall` seconds (a lock wait) does not hold the others up: a write that
arrives then starts another turn, up to `flights`.

What a write shares with the others in its statement is its commit, nothing else:
- a statement that fails rolls back every write in it, and each is sent again alone on the
  same connection: none fails for another's error, and none succeeds thanks to another's
  write, since only writes whose functions check no deferred constraint come here
  (compiler/writes.py `Write.together`);
- a statement takes its rows' locks in the order of its writes' first parameters (tenant,
  row), so two statements never wait on each other in a cycle.

A turn holds one of the pool's gate permits (microspace/web/pipeline.py) while it has its
connection; the writes waiting for a turn hold none.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg

from microspace.lane.connections import RawConnections

PARAMETER = re.compile(r"\$(\d+)\b")
COLUMN = "lane_batch_n"  # whose each row is: the write's place in its statement


@functools.lru_cache(maxsize=256)  # a few statement texts, each in a few sizes
def batch_sql(sql: str, parameters: int, count: int) -> str:
    """`count` copies of `sql` (which takes `$1`..`$parameters`) as one statement: copy i
    takes the parameters after copy i-1's, and marks its rows i in the column `COLUMN`."""
    if {int(n) for n in PARAMETER.findall(sql)} != set(range(1, parameters + 1)):
        raise ValueError("the statement does not take exactly its parameters")

    def copy(i: int) -> str:
        shift = i * parameters
        text = PARAMETER.sub(lambda m: f"${int(m.group(1)) + shift}", sql)
        return f"SELECT {i} AS {COLUMN}, b.* FROM ({text}) AS b"

    return "\nUNION ALL ".join(copy(i) for i in range(count))


def _lock_order(write: _Pending) -> tuple[Any, ...]:
    # the tenant's and the row's UUIDs: ordered as their integers, the same in every batch
    return (write.arguments[0], write.arguments[1])


class _Pending:
    __slots__ = ("arguments", "done")

    def __init__(self, arguments: list[Any], done: asyncio.Future[list[Any]]) -> None:
        self.arguments = arguments
        self.done = done


class WriteBatches:
    """Lane writes by statement text, sent alone or together (the module's docstring)."""

    def __init__(
        self,
        connections: RawConnections,
        *,
        gate: asyncio.Semaphore | None = None,
        flights: int = 4,
        most: int = 16,
        stall: float = 0.05,
        span: Callable[[str], contextlib.AbstractContextManager[Any]] | None = None,
    ) -> None:
        self.connections = connections
        self.gate = gate
        self.flights = flights
        self.stall = stall
        self.most = most
        self.span = span
        self._waiting: dict[str, deque[_Pending]] = {}
        self._flying: dict[str, int] = {}
        self._sent_at: dict[str, float] = {}  # when a statement of the text was last sent
        self._tasks: set[asyncio.Task[None]] = set()  # running turns, kept from the collector
        self.statements = 0  # statements that committed (tests, /metrics)
        self.writes = 0  # the writes they carried
        self.undone = 0  # statements of several rolled back, their writes sent again alone

    async def rows(self, sql: str, arguments: list[Any]) -> list[Any]:
        """The rows of `sql` run with `arguments`, committed; raises what running it alone
        raises (a `PostgresError`: nothing of it was written)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Any]] = loop.create_future()
        waiting = self._waiting.get(sql)
        if waiting is None:
            waiting = self._waiting[sql] = deque()
        waiting.append(_Pending(arguments, done))
        flying = self._flying.get(sql, 0)
        if not flying or (flying < self.flights and self._stalled(sql, loop.time())):
            self._flying[sql] = flying + 1
            task = loop.create_task(self._turns(sql, waiting))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await done

    def _stalled(self, sql: str, now: float) -> bool:
        """Whether the text's last statement has run for `stall` seconds (a lock wait, say):
        another turn then sends the writes that wait, rather than leave them behind it."""
        sent = self._sent_at.get(sql)
        return sent is not None and now - sent >= self.stall

    def waiting(self, sql: str | None = None) -> int:
        """How many writes wait for a turn (of one statement text, or of all)."""
        if sql is not None:
            return len(self._waiting.get(sql, ()))
        return sum(len(w) for w in self._waiting.values())

    async def _turns(self, sql: str, waiting: deque[_Pending]) -> None:
        try:
            while waiting:
                batch: list[_Pending] = []
                try:
                    async with self._turn() as conn:
                        batch = self._take(waiting)  # all that waited for this turn
                        if batch:
                            self._sent_at[sql] = asyncio.get_running_loop().time()
                            await self._send(conn, sql, batch)
                except Exception as exc:  # noqa: BLE001 - no connection, or it was lost
                    for write in batch or self._take(waiting):
                        if not write.done.done():
                            write.done.set_exception(exc)
        finally:
            self._flying[sql] -= 1
            if not waiting and not self._flying[sql]:
                del self._flying[sql], self._waiting[sql]
                self._sent_at.pop(sql, None)

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[asyncpg.Connection]:
        gate = self.gate or contextlib.nullcontext()
        async with gate, self.connections.connection() as conn:
            yield conn

    def _take(self, waiting: deque[_Pending]) -> list[_Pending]:
        batch: list[_Pending] = []
        while waiting and len(batch) < self.most:
            write = waiting.popleft()
            if not write.done.done():  # else its request gave up waiting (its deadline)
                batch.append(write)
        return batch

    async def _send(self, conn: asyncpg.Connection, sql: str, batch: list[_Pending]) -> None:
        if len(batch) > 1:
            with contextlib.suppress(TypeError):  # unordered parameters: left as they came
                batch.sort(key=_lock_order)
            if await self._together(conn, sql, batch):
                return
        for write in batch:
            await self._alone(conn, sql, write)

    async def _together(self, conn: asyncpg.Connection, sql: str, batch: list[_Pending]) -> bool:
        """Whether the batch committed, its rows handed out; False: nothing was written."""
        parameters = len(batch[0].arguments)
        if any(len(w.arguments) != parameters for w in batch):
            return False
        try:
            text = batch_sql(sql, parameters, len(batch))
        except ValueError:
            return False  # a text it cannot copy: each alone
        try:
            with self._span(text):
                rows = await conn.fetch(text, *[v for w in batch for v in w.arguments])
        except asyncpg.PostgresError:
            self.undone += 1
            return False  # all rolled back: each again alone, for its own answer
        self.statements += 1
        self.writes += len(batch)
        mine: list[list[Any]] = [[] for _ in batch]
        for row in rows:
            mine[row[COLUMN]].append(row)
        for write, got in zip(batch, mine, strict=True):
            if not write.done.done():
                write.done.set_result(got)
        return True

    async def _alone(self, conn: asyncpg.Connection, sql: str, write: _Pending) -> None:
        try:
            with self._span(sql):
                rows = await conn.fetch(sql, *write.arguments)
        except asyncpg.PostgresError as exc:
            if not write.done.done():
                write.done.set_exception(exc)
            return
        self.statements += 1
        self.writes += 1
        if not write.done.done():
            write.done.set_result(rows)

    def _span(self, sql: str) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext() if self.span is None else self.span(sql)
