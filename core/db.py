"""Engines, the per-request `Db` wrapper, and the unit of work that ends its transaction.

Over 300 lines on purpose: the Db wrapper, its statement guard and the unit of work keep one
invariant together (one statement at a time, one way a transaction ends).
"""

from __future__ import annotations

import asyncio
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
import orjson
from sqlalchemy import event, text
from sqlalchemy.engine import URL, Result
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from core.errors import ApiError

T = TypeVar("T")
# where a session records its tenant; models/tenancy.py reads it to scope every statement
TENANT_KEY = "tenant_id"
# statement options narrowing a session below its tenant (a widget's spaces, a visitor's own
# rows: store/audience.py); models/tenancy.py adds them to every ORM statement
NARROW_KEY = "narrow"


QUERY_CANCELED = "57014"
# SQLSTATEs of a server that is down, restarting or refusing connections: class 08
# (connection exception), admin/crash shutdown, cannot connect now
UNAVAILABLE_STATES = ("08", "57P01", "57P02", "57P03")


def is_unavailable(exc: BaseException | None) -> bool:
    """Whether an error (or what caused it) means the database cannot be reached right now."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, (OSError, PoolTimeout)):
            return True
        if isinstance(exc, DBAPIError):
            if exc.connection_invalidated:
                return True
            state = _sqlstate(exc) or ""
            if state.startswith(UNAVAILABLE_STATES):
                return True
        # asyncpg's own connection errors, unwrapped (during connect or a dropped socket)
        name = type(exc).__name__
        if name in ("ConnectionDoesNotExistError", "CannotConnectNowError", "InterfaceError"):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


class StatementTimeout(ApiError):
    code = "STATEMENT_TIMEOUT"


def make_engine(
    url: URL,
    *,
    pool_size: int = 10,
    max_overflow: int = 5,
    statement_timeout: float | None = None,
) -> AsyncEngine:
    # jit off: the API's statements are short, and one whose estimate crosses
    # jit_above_cost pays 20-100 ms of LLVM compilation on every run (docs/performance.md)
    server_settings = {"application_name": "microspace", "jit": "off"}
    if statement_timeout:
        # a startup setting is the connection's default: every statement of every request
        # gets it, with no extra round trip, and RESET ALL on a pooled connection restores it
        server_settings["statement_timeout"] = str(max(1, int(statement_timeout * 1000)))
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        connect_args={"server_settings": server_settings},
        # JSON columns (block bodies) through orjson: several times faster than `json`
        json_serializer=_json_text,
        json_deserializer=orjson.loads,
    )
    ping_idle_connections(engine)
    if statement_timeout:
        _TIMEOUTS[engine.sync_engine] = statement_timeout
    return engine


# each engine's statement timeout, for the message of a statement it cancels (`Db._timeout`)
_TIMEOUTS: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()


def _timeout_of(sessionmaker: async_sessionmaker[AsyncSession]) -> float | None:
    bind = sessionmaker.kw.get("bind")
    return _TIMEOUTS.get(bind.sync_engine) if isinstance(bind, AsyncEngine) else None


# a pooled connection idle this long is pinged before reuse
IDLE_PING_SECONDS = 1.0


def ping_idle_connections(engine: AsyncEngine, idle: float = IDLE_PING_SECONDS) -> None:
    """Find a connection that died with its server (restart, failover) at checkout and
    replace it, so the API recovers by itself when PostgreSQL comes back.

    SQLAlchemy's `pool_pre_ping` does this on every checkout, at three round trips (BEGIN,
    ping, ROLLBACK on asyncpg); a connection handed back moments ago was alive then, so only
    one that sat idle is pinged. A ping that fails invalidates the pool: every connection
    opened before it is replaced, and the checkout retries on a fresh one.
    """
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _returned(_: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _taken(dbapi_connection: Any, record: Any, _: Any) -> None:
        since = record.info.pop(_IDLE_SINCE, None)
        if since is None or time.monotonic() - since < idle:
            return
        try:
            dbapi_connection.ping()
        except Exception as exc:
            error = DisconnectionError(f"idle connection failed its ping: {type(exc).__name__}")
            error.invalidate_pool = True
            raise error from exc


_IDLE_SINCE = "microspace_idle_since"


def pool_waiting(pool: Any) -> int:
    """Waiters on the async pool's queue (SQLAlchemy exposes no public count: best effort)."""
    queue = getattr(getattr(pool, "_pool", None), "_queue", None)
    getters = getattr(queue, "_getters", None)
    return sum(1 for g in getters if not g.done()) if getters is not None else 0


def _json_text(value: Any) -> str:
    return orjson.dumps(value).decode()


def set_session_tenant(session: AsyncSession | Session, tenant_id: uuid.UUID) -> None:
    session.info[TENANT_KEY] = tenant_id


def session_tenant(session: Session) -> uuid.UUID | None:
    return session.info.get(TENANT_KEY)


def narrow_session(session: AsyncSession | Session, options: Sequence[Any]) -> None:
    session.info[NARROW_KEY] = tuple(options)


def session_narrowing(session: Session) -> tuple[Any, ...]:
    narrowing: tuple[Any, ...] = session.info.get(NARROW_KEY, ())
    return narrowing


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


class Db:
    """One request's database work: one session, one transaction, one statement at a time.

    Strawberry resolves sibling fields and DataLoader batches concurrently, and an
    AsyncSession refuses concurrent operations; the lock serialises them.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        statement_timeout: float | None = None,
        gate: asyncio.Semaphore | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._session: AsyncSession | None = None
        self._lock = asyncio.Lock()
        # first come, first served for pooled connections (see `admit`)
        self._gate = gate
        self._admitted = False
        self.tenant_id: uuid.UUID | None = None
        # as given, else the engine's own (every Db of the app's engine knows it)
        self.statement_timeout = statement_timeout or _timeout_of(sessionmaker)
        # set when a statement was cancelled: the transaction is aborted and must roll back
        self.aborted = False
        # set by `discard()`: the unit of work rolls back although its block completed
        self.discarded = False

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return self._sessionmaker

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self._sessionmaker()
        return self._session

    async def set_tenant(self, tenant_id: uuid.UUID) -> None:
        """Scope this transaction to one tenant, for the ORM and for row-level security."""
        # transaction-local (third argument true): a pooled connection never carries one
        # tenant's scope into the next request
        await self.execute(
            text("SELECT set_config('app.tenant_id', :tenant, true)"), {"tenant": str(tenant_id)}
        )
        self.adopt_tenant(tenant_id)

    def narrow(self, options: Sequence[Any]) -> None:
        """Hold every later ORM statement of this request to these criteria as well."""
        narrow_session(self.session, options)

    def adopt_tenant(self, tenant_id: uuid.UUID) -> None:
        """Record the tenant that a statement just set with set_config in this transaction."""
        self.tenant_id = tenant_id
        set_session_tenant(self.session, tenant_id)

    async def _admit(self) -> None:
        """Wait for a turn before this unit of work first takes a pooled connection.

        SQLAlchemy's async pool hands a returned connection to whoever asks first, not to
        whoever waited longest: under a burst, a request could wait out the pool timeout
        while newer ones kept getting served. The gate (a semaphore as large as the pool,
        which queues in order) makes the wait first come, first served.
        """
        if self._gate is not None and not self._admitted:
            await self._gate.acquire()
            self._admitted = True

    @asynccontextmanager
    async def _statement(self) -> AsyncIterator[None]:
        """One statement at a time; a cancelled statement becomes a clear STATEMENT_TIMEOUT."""
        async with self._lock:
            await self._admit()
            try:
                yield
            except asyncio.CancelledError:
                # a sibling field failed and graphql-core cancelled this one mid-statement:
                # the connection cannot commit, the request must roll back
                self.aborted = True
                raise
            except DBAPIError as exc:
                if _sqlstate(exc) != QUERY_CANCELED:
                    raise
                self.aborted = True
                raise self._timeout() from None

    def _timeout(self) -> StatementTimeout:
        limit = self.statement_timeout
        return StatementTimeout(
            f"A database statement ran past the {limit:g} s statement timeout and was "
            "cancelled; nothing was changed."
            if limit
            else "A database statement was cancelled; nothing was changed.",
            limit=limit,
        )

    async def execute(self, stmt: Executable, params: Any = None) -> Result[Any]:
        async with self._statement():
            return await self.session.execute(stmt, params)

    async def scalars(self, stmt: Executable, params: Any = None) -> Sequence[Any]:
        async with self._statement():
            return (await self.session.scalars(stmt, params)).all()

    async def scalar(self, stmt: Executable, params: Any = None) -> Any:
        async with self._statement():
            return await self.session.scalar(stmt, params)

    async def fetch_row(self, sql: str, params: Sequence[Any]) -> Any:
        """One row of a hand-written statement, on the request's connection and transaction,
        straight through asyncpg (its prepared-statement cache; no ORM, no decoding)."""
        async with self._statement():
            conn = await self.session.connection()
            raw = await conn.get_raw_connection()
            try:
                return await raw.driver_connection.fetchrow(sql, *params)  # type: ignore[union-attr]
            except asyncpg.QueryCanceledError:
                self.aborted = True
                raise self._timeout() from None
            except asyncpg.PostgresError:
                self.aborted = True
                raise

    def add(self, obj: object) -> None:
        self.session.add(obj)

    async def flush(self) -> None:
        async with self._statement():
            await self.session.flush()

    async def delete(self, obj: object) -> None:
        async with self._statement():
            await self.session.delete(obj)
            await self.session.flush()

    async def refresh(self, obj: object) -> None:
        async with self._statement():
            await self.session.refresh(obj)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """Run a block that may fail on a constraint without losing the request's work."""
        async with self._lock:
            await self._admit()
            nested = await self.session.begin_nested()
        try:
            yield
            async with self._lock:
                await self.session.flush()
                await nested.commit()
        except BaseException:
            async with self._lock:
                await nested.rollback()
            raise

    def discard(self) -> None:
        """Undo this transaction's work when the unit of work ends, without an exception."""
        self.discarded = True

    async def commit(self) -> None:
        if self._session is not None:
            async with self._lock:
                await self._session.commit()

    async def finish(self) -> None:
        """Commit; or abandon when a statement was cancelled or the work was discarded.

        Decided under the statement lock: a statement cancelled with a failing sibling
        field may still be unwinding when the request's block completes (graphql-core does
        not wait for what it cancels), and only then marks the transaction aborted.
        """
        if self._session is None:
            return
        async with self._lock:
            if self.aborted or self.discarded:
                await self._abandon()
            else:
                await self._session.commit()

    async def rollback(self) -> None:
        if self._session is not None:
            async with self._lock:
                await self._session.rollback()

    async def abandon(self) -> None:
        """After a cancelled request: roll back, or drop the connection if that fails.

        A connection whose statement was interrupted mid-flight is not trusted back into
        the pool: invalidating it closes it, and the pool opens a fresh one.
        """
        if self._session is None:
            return
        async with self._lock:
            await self._abandon()

    async def _abandon(self) -> None:
        assert self._session is not None
        try:
            await self._session.rollback()
        except Exception:  # noqa: BLE001 - any failure here means: do not reuse it
            await self._session.invalidate()

    async def close(self) -> None:
        try:
            if self._session is not None:
                await self._session.close()
                self._session = None
        finally:
            if self._admitted and self._gate is not None:
                self._admitted = False
                self._gate.release()


def sessionmaker_for(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)


@asynccontextmanager
async def unit_of_work(db: Db) -> AsyncIterator[Db]:
    """The one place a transaction ends: committed when the block completes, rolled back
    when it raises or after `db.discard()`, and the session closed in every case.

    A block cut short by a timeout or a cancellation, or whose statement was cancelled
    (`db.aborted`), is abandoned rather than rolled back: its connection may be mid-statement.
    """
    try:
        yield db
    except BaseException as exc:
        if db.aborted or isinstance(exc, TimeoutError | asyncio.CancelledError):
            await db.abandon()
        else:
            await db.rollback()
        raise
    else:
        await db.finish()
    finally:
        await db.close()


@asynccontextmanager
async def owner_db(
    owner: URL | AsyncEngine, tenant_id: uuid.UUID | None = None
) -> AsyncIterator[Db]:
    """A committed unit of work as the owner, for the CLI and seeding: on an engine of its
    own for a URL, or on the caller's engine (which it leaves open)."""
    engine = create_async_engine(owner) if isinstance(owner, URL) else owner
    try:
        async with unit_of_work(Db(sessionmaker_for(engine))) as db:
            if tenant_id is not None:
                await db.set_tenant(tenant_id)
            yield db
    finally:
        if engine is not owner:
            await engine.dispose()
