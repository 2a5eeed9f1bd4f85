"""The fast lane: a query the compiled read path answered before, answered again without
Strawberry, graphql-core or an ORM session.

The first request of a document takes the whole way (microspace/app.py): parsing, the
limits, validation, then the compiled read path, which remembers the document
(`CompiledReads.learn`). The first request of a credential authenticates through the
pipeline, which remembers the principal (`KnownPrincipals`). A later POST with the same
document text and a remembered member or partner credential is answered here, on one
pooled connection. A read and a write take one round trip (`_alone`): one statement that
sets the tenant for its own transaction, checks the credential again (the token must still
be valid, its principal and policy version unchanged; for a member or partner, its
tenant's credentials epoch unchanged since it was authenticated and its secret still valid,
migration 0061) and reads or writes. A read that
discloses personal data takes one more, its audit entry (`_audit`): one statement,
`app_lane_audit` (migration 0042), that scopes its own transaction to the tenant,
authenticates the credential again (`app_authenticate`, so the database vouches for the
principal the entry names) and appends the entry only if the token still stands for the
principal the read was checked for; it commits by itself. Why two transactions answer as
the one of the whole way would:

- the entry is committed before the response leaves, and names a principal the database
  vouched for in the entry's own transaction;
- the read is not answered unless its entry is written: a read the lane would not answer
  (another principal, an error, a missing row) writes no entry, and an entry refused (the
  token revoked or changed in between) or failed (PostgreSQL reported an error, so the
  statement's transaction rolled back) was not written: in each case the whole way
  answers, and audits once;
- once the entry's statement is sent and no answer comes back (a lost connection), it may
  have committed: the lane answers 503 itself rather than hand the request on to be
  audited again (a deadline answers 503 too);
- what the answer holds is what the read's snapshot shows, checked for the principal in
  that snapshot, as in one transaction; a revocation or a new role committed after the
  read is seen by the entry's check, which refuses (in one transaction it would have been
  seen only by the next request), and one committed after the entry, by the next request.

What is checked per request is what depends on the request: the variables (coerced, NUL
refused), the cost and node limits, the rate limit, the tenant's admission and the
deadline. Anything this lane does not answer exactly as the whole way would (errors, a
missing row, a limit exceeded, a session start to record, a database error) goes the
whole way from the start, with nothing taken or written here.

Over 300 lines on purpose: what it checks, runs and refuses is one invariant (answer as
the whole way would, or not at all), read best in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

import asyncpg
import orjson
from graphql import DocumentNode, OperationDefinitionNode
from prometheus_client.core import CounterMetricFamily
from starlette.datastructures import Headers
from starlette.responses import Response

from compiler import CompiledReads
from compiler.cache import WriteForm
from compiler.learned import Found
from compiler.run import assemble
from compiler.shapes import Plan
from core import http
from core.audit import read_entries
from core.auth import BROWSER_KINDS, Principal, bearer_token, credential, hash_token, subjects_of
from core.db import is_unavailable
from core.http import Refusal
from core.limits import Limits
from core.limits.cost import CostAnalysis, page_variables
from core.limits.inputs import UNSTORABLE, strings
from core.metrics import count_statements
from core.ratelimit import Decision, TokenBuckets
from core.ratelimit import raw_headers as rate_headers
from core.tenant_cache import TenantCache
from microspace.lane.batches import WriteBatches
from microspace.lane.connections import RawConnections
from microspace.web import persisted, tracing
from microspace.web.pipeline import Pipeline
from microspace.web.widget_documents import SHIPPED
from policies.authz import Authorizer
from schema.build import redaction_report

# a read's audit entry (`_audit`), in its own transaction; `{auth}`: the credential's hash
AUDIT_SQL = "SELECT app_lane_audit($1, $2::jsonb, $3, $4, $5, $6::jsonb, {auth})"
COST_BYTES = 256  # a cost entry: its key (a hash and the page variables) and two numbers
# a prepared read (`_Prepared`): its key's request text, its parameters; the plan and its
# statement are the plan cache's
PREPARED_BYTES = 512
WRITE_BYTES = 512  # a prepared write (`_Write`), besides its key's document text
# the documents shipped with the widget, by text: a text is one of them exactly when its hash
# is (`SHIPPED`), without hashing every request's text
SHIPPED_TEXTS = frozenset(SHIPPED.values())
MAX_CACHED_SEGMENT = 16_384  # characters of a GET parameter kept decoded (`query_params`)
log = logging.getLogger("microspace")
UNTRACED = contextlib.nullcontext()  # it keeps no state: one for every statement


class AuditInDoubt(Exception):
    """A read's audit entry was sent and no answer came back: it may have committed."""


@dataclass(frozen=True)
class _Body:
    query: str
    operation_name: str | None
    variables: dict[str, Any] | None
    trusted: bool = False  # a document shipped with the widget, by hash or by its text


def _parse(data: dict[str, Any]) -> _Body | None:
    """A plain operation, by its text or by the hash of a document shipped with the widget
    (`extensions.persistedQuery`, which the whole way runs for every credential); None for
    anything else (any other hash, batches, odd shapes): the whole way parses those and
    reports their errors."""
    if not data.keys() <= {"query", "operationName", "variables", "extensions"}:
        return None
    query, name, variables = data.get("query"), data.get("operationName"), data.get("variables")
    if not (name is None or isinstance(name, str)):
        return None
    if not (variables is None or isinstance(variables, dict)):
        return None
    if data.get("extensions") is None:
        if not (isinstance(query, str) and query):
            return None
        return _Body(query, name, variables, trusted=query in SHIPPED_TEXTS)
    try:
        digest = persisted.requested_hash(data["extensions"])
    except persisted.PersistedQueryError:
        return None
    shipped = SHIPPED.get(digest or "")
    if shipped is None or set(data["extensions"]) != {"persistedQuery"}:
        return None
    if query is not None and query != shipped:
        return None  # the whole way says the hash does not match
    return _Body(shipped, name, variables, trusted=True)


def _body(raw: bytes) -> _Body | None:
    """The operation of a JSON POST (`_operation`), or None."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return _parse(data) if isinstance(data, dict) else None


@functools.lru_cache(maxsize=512)
def _pair(segment: str) -> tuple[str, str] | None:
    """One `name=value` as `parse_qsl(segment, keep_blank_values=True)` reads it (a segment
    holds no `&`), without its general steps."""
    if not segment:
        return None
    name, _, value = segment.partition("=")
    return unquote_plus(name), unquote_plus(value)


def _decoded(segment: str) -> tuple[str, str] | None:
    """`_pair`, kept decoded only for a segment short enough to recur."""
    return _pair(segment) if len(segment) <= MAX_CACHED_SEGMENT else _pair.__wrapped__(segment)


def query_params(query_string: bytes) -> dict[str, str]:
    """A GET's parameters as Starlette's `QueryParams` reads them (`parse_qsl` keeping
    blank values, the last of repeated names), each `name=value` decoded once while it
    recurs: a client sends the same query text on every request, and decoding it is most
    of a GET's parsing."""
    params = {}
    for segment in query_string.decode("latin-1").split("&"):
        pair = _decoded(segment)
        if pair is not None:
            params[pair[0]] = pair[1]
    return params


def _unstorable(request: _Request, raw: bytes, body: _Body) -> bool:
    """Whether a variable's string holds what PostgreSQL cannot store (the whole way
    refuses it). A JSON body's strings hold U+0000 or a lone surrogate only by a `\\u`
    escape (raw, the parser refuses both): a body without one needs no look at its strings."""
    return (request.get or b"\\u" in raw) and any(
        UNSTORABLE.search(s) for s in strings(body.variables)
    )


def key_param(query_string: bytes) -> str | None:
    """The `key` parameter as `query_params` reads it (the last one), decoding only the
    names: the values of a GET's other parameters (its query text and variables) are read
    only when the lane has not answered that text for the credential before."""
    key = None
    for segment in query_string.decode("latin-1").split("&"):
        name = segment.partition("=")[0]
        if name == "key" or "%" in name or "+" in name:  # else no name that decodes to it
            pair = _decoded(segment)
            if pair is not None and pair[0] == "key":
                key = pair[1]
    return key


def _get_body(params: dict[str, str]) -> _Body | None:
    """The operation of a GET (`_parse`), its parameters parsed by the whole way's own
    `core.http.parse_get`, or None (the whole way reports what does not parse)."""
    try:
        data = http.parse_get(params)
    except Refusal:
        return None
    return _parse(
        {
            "query": data.query,
            "operationName": data.operation_name,
            "variables": data.variables,
            "extensions": data.extensions or None,
        }
    )


@dataclass(slots=True)  # not frozen: a frozen class's __init__ costs more, one is made per request
class _Request:
    """A request as the lane reads it."""

    headers: Headers
    key: str | None  # a widget key given in the URL (`core.auth.credential`)
    client: str
    request_id: str
    origin: str | None  # a cross-origin request's Origin, which the credential must allow
    get: bool


@dataclass(slots=True)
class _Prepared:
    """What a read's checks and plan made of one request text for one principal, kept to
    answer the same text again (`FastLane._prepared`): the same principal object (a new
    authentication makes a new one) and the same policy scope decide the same."""

    principal: Principal
    scope: Any
    name: str | None
    cost: int
    plan: Plan
    values: list[Any]
    sql: str


@dataclass(slots=True)
class _Write:
    """What a write's checks and plan made of one document for one principal, kept to write
    the next request of the same document (`FastLane._writes`): as `_Prepared`, the same
    principal object and policy scope decide the same; the variables are new each time."""

    principal: Principal
    scope: Any
    name: str | None
    pages: tuple[tuple[str, Any], ...]  # the page variables its cost was counted for
    cost: int
    form: WriteForm


class Answered:
    """A 200 with a JSON body, as starlette's `Response(body, headers=extra,
    media_type="application/json")` holds it (same headers, same order), without the
    general steps of building one. `extra`: headers as an ASGI response holds them."""

    __slots__ = ("body", "raw_headers")
    status_code = 200

    def __init__(self, body: bytes, extra: list[tuple[bytes, bytes]] | None) -> None:
        raw = extra if extra is not None else []
        raw.append((b"content-length", str(len(body)).encode()))
        raw.append((b"content-type", b"application/json"))
        self.body = body
        self.raw_headers = raw


@dataclass(slots=True)
class Reply:
    """The lane's answer to a request, with what the request metrics and a GET's caching
    need."""

    response: Response | Answered
    operation: str | None  # the operation's name, for the request metrics
    kind: str  # "query" or "mutation"
    personal: bool = False  # the answer discloses personal data (audited)
    caller: str = "member"  # the principal's kind, for the caching of a GET
    tenant: str | None = None  # whose share of operation labels it counts in (core/metrics.py)
    outcome: str = "ok"  # as the whole way names it (microspace/app.py outcome_labels)

    def labels(self) -> tuple[str | None, str, str, str | None]:
        """(operation, type, outcome, tenant) for the request metrics."""
        return self.operation, self.kind, self.outcome, self.tenant


@dataclass(slots=True)
class Statement:
    sql: str  # the credential's hash is the last parameter
    values: list[Any]
    plan: Plan | None  # a read's plan; None for a write
    key: str | None  # a write's root field key
    # a cross-origin read's Origin, which the credential must allow (a write sends it in
    # its principal, `_writer_json`)
    origin: str | None = None
    # a write's payload holds JSON columns as PostgreSQL writes them (spaces): written again
    # as the whole way writes them, so both answers are the same bytes (compiler/writes.py)
    loose: bool = False
    # checked by its tenant's credentials epoch (`_known_sql`, `_known_json`), not the
    # credential's hash: the parameters after the values (a write's are in its values)
    known: tuple[Any, ...] | None = None
    # a write sent together with others of its text (microspace/lane/batches.py)
    together: bool = False

    def arguments(self, digest: bytes) -> list[Any]:
        """The statement's parameters: its values, the credential's hash, the origin."""
        if self.known is not None:
            return [*self.values, *self.known]
        if self.origin is None:
            return [*self.values, digest]
        return [*self.values, digest, self.origin]


def _name(document: DocumentNode, body: _Body) -> str | None:
    """The operation's name, as the whole way reports it in the request metrics."""
    if body.operation_name is not None:
        return body.operation_name
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return ops[0].name.value if len(ops) == 1 and ops[0].name else None


AUTH_COLUMNS = "a.token_id, a.kind, a.member_id, a.role, a.scopes, a.policy_version, a.contact_id"


def _credential(position: int, origin: str | None) -> str:
    """Where the credential's hash goes in a read's audit entry (`_audit`). For a
    cross-origin request (its Origin is the next parameter) the hash only when the
    credential allows that origin, by the allow-list the CORS middleware reads
    (`app_cors_origins`), else NULL: no token matches, nothing is written, and the whole
    way refuses the origin. (A read checks it in its scope, a write in its check.)"""
    if origin is None:
        return f"${position}"
    return (
        f"(CASE WHEN ${position + 1}::text = ANY(app_cors_origins(${position})) "
        f"THEN ${position} END)"
    )


@functools.lru_cache(maxsize=1024)  # a plan's statement is the same text every request
def _auth_sql(text: str, position: int, origin: str | None) -> str:
    """The plan's statement with the credential checked in it: one row per match. It scopes
    itself (migration 0013): the plan depends on the scope's row and cannot be flattened
    into the join (OFFSET 0), so none of it runs before the tenant is set. `text`: the
    plan's statement (`Plan.statement`). A cross-origin request's Origin (the parameter
    after the hash) is checked in the scope's own token lookup, by the allow-list the CORS
    middleware reads (migration 0051): a refused origin matches no token."""
    scoped = f"${position}" if origin is None else f"${position}, ${position + 1}"
    return (
        f"SELECT {AUTH_COLUMNS}, q.* FROM app_lane_scope($1, {scoped}) AS a "
        f"CROSS JOIN LATERAL (SELECT * FROM ({text}) AS p "
        "WHERE a.token_id IS NOT NULL OFFSET 0) AS q"
    )


@functools.lru_cache(maxsize=1024)
def _known_sql(text: str, position: int, origin: str | None) -> str:
    """The plan's statement for a principal checked by its tenant's credentials epoch
    (migration 0061 `app_lane_known`): its epoch, validity and policy version from
    `$position` on, then a cross-origin request's Origin; scoped as `_auth_sql`'s is, and no
    row when the check refuses."""
    tail = ", ".join(f"${position + i}" for i in range(3 if origin is None else 4))
    return (
        f"SELECT q.* FROM app_lane_known($1, {tail}) AS a "
        f"CROSS JOIN LATERAL (SELECT * FROM ({text}) AS p WHERE a.ok OFFSET 0) AS q"
    )


def _known(principal: Principal, origin: str | None) -> tuple[Any, ...]:
    """`_known_sql`'s parameters after the values."""
    known = (principal.epoch, principal.valid_until, principal.policy_version)
    return known if origin is None else (*known, origin)


def _same_principal(row: Any, principal: Principal) -> bool:
    subjects = subjects_of(row["kind"], row["role"], row["scopes"])
    return (
        row["token_id"] == principal.token_id
        and row["kind"] == principal.kind
        and row["member_id"] == principal.member_id
        and row["contact_id"] == principal.contact_id
        and row["policy_version"] == principal.policy_version
        and subjects == principal.subjects
    )


@functools.lru_cache(maxsize=1024)
def _write_sql(text: str, who: str, auth: str) -> str:
    """A write plan's statement with its principal's and credential's parameters (the same
    few texts every request: formatted once)."""
    return text.format(who=who, auth=auth)


# a remembered principal is the same object request after request
@functools.lru_cache(maxsize=4096)
def _principal_json(principal: Principal) -> str:
    """What `_same_principal` compares, as migration 0021 `app_lane_check` builds it
    from the credential's row."""

    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    who = [
        text(principal.token_id),
        principal.kind,
        text(principal.member_id),
        text(principal.contact_id),
        principal.policy_version,
        list(principal.subjects),
    ]
    return orjson.dumps(who).decode()


@functools.lru_cache(maxsize=4096)
def _known_json(principal: Principal, origin: str | None) -> str:
    """The principal a lane write checks by its tenant's credentials epoch (`p_who`, with
    no credential's hash): what `app_lane_check_known` compares (migration 0061)."""
    until = principal.valid_until
    known = {
        "epoch": principal.epoch,
        "policy": principal.policy_version,
        "until": None if until is None else until.timestamp(),
        "origin": origin,
    }
    return orjson.dumps(known).decode()


@functools.lru_cache(maxsize=4096)
def _writer_json(principal: Principal, origin: str | None) -> str:
    """The principal a lane write's check compares (`p_who`): `_principal_json`, with a
    cross-origin request's Origin as a seventh element, which `app_lane_check` builds too
    only when the credential allows that origin (migration 0055): a refused origin is not
    the same principal, and nothing is written."""
    who = _principal_json(principal)
    return who if origin is None else f"{who[:-1]},{orjson.dumps(origin).decode()}]"


class FastLane:
    def __init__(
        self,
        pipeline: Pipeline,
        reads: CompiledReads,
        limits: Limits,
        buckets: TokenBuckets,
        shared: Any,
    ) -> None:
        self.pipeline = pipeline
        self.state = pipeline.state
        self.reads = reads
        self.limits = limits
        self.buckets = buckets
        self.shared = shared
        self.enabled = True
        settings = self.state.settings
        self.connections = RawConnections(
            self.state.engine, settings.pool_size + settings.max_overflow
        )
        # by tenant and normalised document (core/tenant_cache.py)
        self._costs: TenantCache[tuple[int, int]] = TenantCache("costs", 16384, 8 << 20)
        reads.caches.append(self._costs)
        # reads prepared, by tenant and (credential, request text): dropped with the plans
        self._prepared: TenantCache[_Prepared] = TenantCache("prepared", 16384, 32 << 20)
        reads.caches.append(self._prepared)
        reads.derived.append(self._prepared)
        # writes prepared, by tenant and (credential, document text, operation name)
        self._writes: TenantCache[_Write] = TenantCache("writes", 4096, 8 << 20)
        reads.caches.append(self._writes)
        reads.derived.append(self._writes)
        # writes that arrive while others run, sent together (microspace/lane/batches.py)
        self.batches = WriteBatches(self.connections, gate=pipeline.gate, span=self._span)
        self.answered = 0  # requests answered here (tests, metrics)
        self.misses: Counter[str] = Counter()  # why the whole way answered, by first cause
        self.state.metrics.registry.register(LaneMetrics(self))
        # the lane's statements, traced like the whole way's (SQLAlchemy's instrumentation)
        provider = tracing.tracer_provider(settings)
        self.tracer = None if provider is None else provider.get_tracer("microspace.lane")

    @property
    def open(self) -> bool:
        return self.enabled and self.reads.enabled

    async def answer(
        self,
        headers: Headers,
        raw: bytes,
        client: str,
        request_id: str,
        origin: str | None = None,
    ) -> Reply | None:
        """The answer to a POST, or None: the whole way answers (nothing was taken or
        written). `origin`: a cross-origin request's Origin, which the credential must
        allow (microspace/web/cors.py)."""
        if not self.open:
            return None
        if http.media_type(headers.get("content-type")) != "application/json":
            return None
        request = _Request(headers, None, client, request_id, origin, get=False)
        return await self._operation(request, lambda: _body(raw), raw)

    async def answer_get(
        self,
        headers: Headers,
        query_string: bytes,
        client: str,
        request_id: str,
        origin: str | None = None,
    ) -> Reply | None:
        """The answer to a GET with a query text, as `answer` answers a POST; a mutation
        over GET, like anything else the lane does not know, goes the whole way."""
        if not (self.open and self.state.settings.allow_get_queries):
            return None
        key = key_param(query_string)
        request = _Request(headers, key, client, request_id, origin, get=True)
        # the other parameters only for a text the lane has not answered for the credential
        parse = lambda: _get_body(query_params(query_string))
        return await self._operation(request, parse, query_string)

    async def _operation(
        self, request: _Request, parse: Callable[[], _Body | None], raw: bytes
    ) -> Reply | None:
        """`raw`: the request's text (a POST's body, a GET's query string), which `parse`
        reads."""
        token = bearer_token(credential(request.headers.get("authorization"), request.key))
        if not token or len(token) > 200:
            return None
        digest = hash_token(token)
        principal = self.pipeline.known.get(digest)
        if principal is None or self.pipeline.sign_ins.due(principal):
            self._miss("credential not known yet")
            return None
        tenant = principal.tenant
        policies = self.state.tenant_policies
        if not policies.is_current(tenant, principal.policy_version):
            self._miss("policies changed")
            return None
        # a read this principal sent before, in the same words: what its checks and plan
        # made of it then (they depend on nothing else), checked and planned once
        scope = policies.scope(tenant)
        key = (digest, raw, request.get)
        kept = self._prepared.get(principal.tenant_id, key)
        if kept is not None and kept.principal is principal and kept.scope == scope:
            return await self._read(request, principal, digest, kept)
        body = parse()
        if body is None:
            self._miss("not a plain operation")
            return None
        if principal.kind in BROWSER_KINDS and not body.trusted:
            return None  # a widget runs trusted documents only: the whole way says so
        written = None
        if not request.get:
            # a write this principal sent before, with other variables: its document, cost
            # and plan as then (anything else: found again below, misses counted there)
            written = (digest, body.query, body.operation_name)
            was = self._writes.get(principal.tenant_id, written)
            if (
                was is not None
                and was.principal is principal
                and was.scope == scope
                and not _unstorable(request, raw, body)
                and page_variables(body.variables) == was.pages
            ):
                values = self.reads.write_again(
                    was.form, body.variables, principal, request.request_id
                )
                if values is not None:
                    return await self._write(
                        request, principal, digest, was.form, values, was.cost, was.name
                    )
        found = self.reads.known(body.query, body.operation_name, principal.tenant_id)
        if found is None:
            self._miss("document not known yet")
            return None
        if _unstorable(request, raw, body):
            self._miss("unstorable input")
            return None
        cost = self._cost(body, found, principal.tenant_id)
        if cost is None:
            self._miss("limits")
            return None
        authz = Authorizer(self.state.enforcer, principal, self.state.tenant_policies)
        write = self.reads.prepare_write(
            found,
            body.query,
            body.operation_name,
            body.variables,
            principal,
            authz,
            request.request_id,
        )
        if write is not None:
            if request.get:
                self._miss("mutation over GET")
                return None
            form, values = write
            name = _name(found.form, body)
            if written is not None:
                pages = page_variables(body.variables)
                again = _Write(principal, scope, name, pages, cost, form)
                self._writes.put(principal.tenant_id, written, again, WRITE_BYTES + len(body.query))
            return await self._write(request, principal, digest, form, values, cost, name)
        prepared = self.reads.prepare(
            found,
            body.query,
            body.operation_name,
            body.variables,
            principal,
            authz,
            self.state.settings,
        )
        if prepared is None or not prepared.needs_sql:
            self._miss("not compiled")
            return None
        made = _Prepared(
            principal,
            scope,
            _name(found.form, body),
            cost,
            prepared.plan,
            prepared.values,
            prepared.sql,
        )
        if prepared.exact:  # a plan of another spelling is counted as shared per request
            self._prepared.put(principal.tenant_id, key, made, PREPARED_BYTES + 2 * len(raw))
        return await self._read(request, principal, digest, made)

    async def _write(
        self,
        request: _Request,
        principal: Principal,
        digest: bytes,
        form: WriteForm,
        values: list[Any],
        cost: int,
        name: str | None,
    ) -> Reply | None:
        writing = form.plan
        # it writes only for this principal, from an origin its credential allows
        # (compiler/writes.py): it commits by itself. Checked by the tenant's credentials
        # epoch, with no credential's hash; but an audited write's entry is signed in by the
        # credential (migration 0049): it keeps the token's check
        if principal.epoch is not None and not writing.write.audited:
            values = [*values, _known_json(principal, request.origin)]
            sql = _write_sql(writing.sql, f"${len(values)}", "NULL")
            statement = Statement(
                sql,
                values,
                None,
                writing.key,
                loose=writing.loose,
                known=(),
                together=writing.write.together,
            )
        else:
            values = [*values, _writer_json(principal, request.origin)]
            sql = _write_sql(writing.sql, f"${len(values)}", f"${len(values) + 1}")
            statement = Statement(sql, values, None, writing.key, loose=writing.loose)
        done = await self._run(request, principal, digest, statement, cost)
        if done is None:
            return None
        tenant = principal.tenant
        return Reply(done[0], name, "mutation", False, principal.kind, tenant, done[2])

    async def _read(
        self, request: _Request, principal: Principal, digest: bytes, prepared: _Prepared
    ) -> Reply | None:
        origin = request.origin
        values = prepared.values
        if principal.epoch is not None:
            sql = _known_sql(prepared.sql, len(values) + 1, origin)
            known = _known(principal, origin)
            statement = Statement(sql, values, prepared.plan, None, origin, known=known)
        else:
            sql = _auth_sql(prepared.sql, len(values) + 1, origin)
            statement = Statement(sql, values, prepared.plan, None, origin)
        done = await self._run(request, principal, digest, statement, prepared.cost)
        if done is None:
            return None
        tenant = principal.tenant
        return Reply(done[0], prepared.name, "query", done[1], principal.kind, tenant, done[2])

    def _miss(self, why: str) -> None:
        self.misses[why] += 1

    def _cost(self, body: _Body, found: Found, tenant: Any) -> int | None:
        """The query's cost, or None when a limit refuses it (the whole way says why)."""
        # a new alias, or a new literal but a page size, costs what the learned document
        # does with those page sizes (compiler/learned.py `key`)
        key = (
            self.reads.cost_key(body.query, found),
            body.operation_name,
            page_variables(body.variables),
        )
        known = self._costs.get(tenant, key)
        if known is None:
            schema = self.reads.schema
            assert schema is not None
            analysis = CostAnalysis(schema, found.document, body.variables, self.limits)
            try:
                cost, _fields, nodes = analysis.totals()
            except Exception:  # noqa: BLE001 - a bad page size: the whole way reports it
                return None
            known = (cost, nodes)
            self._costs.put(tenant, key, known, COST_BYTES)
        cost, nodes = known
        if cost > self.limits.max_cost or nodes > self.limits.max_nodes:
            return None
        return cost

    async def _run(
        self,
        request: _Request,
        principal: Principal,
        digest: bytes,
        statement: Statement,
        cost: int,
    ) -> tuple[Response | Answered, bool, str] | None:
        """The response, whether it discloses personal data and its outcome for the
        metrics, or None: the whole way answers."""
        pipeline = self.pipeline
        settings = self.state.settings
        loop = asyncio.get_running_loop()
        deadline = loop.time() + settings.execution_timeout
        lane = pipeline.admission.tenant_lane(principal.tenant)
        decision = None
        try:
            async with pipeline.admission.slot(lane, deadline), asyncio.timeout_at(deadline):
                # the request's own point and its cost, in one take (refused: nothing taken)
                if self.buckets.enabled:
                    if self.shared is not None:
                        decision = await self.shared.take(principal.key, cost)
                    else:
                        decision = self.buckets.take(principal.key, cost)
                    if not decision.allowed:
                        self._miss("rate limited")
                        return None
                if statement.together:  # its statement takes the gate (batches.py)
                    answer = await self._together(principal, digest, statement)
                else:
                    async with pipeline.gate:
                        answer = await self._statements(
                            request.request_id, principal, digest, statement
                        )
        except Refusal as refusal:
            refused = refusal.response()
            status = refused.status_code
            outcome = (
                "rate_limited" if status == 429 else "unavailable" if status >= 500 else "rejected"
            )
            return refused, False, outcome
        except TimeoutError:
            return pipeline.timed_out(), False, "timeout"
        except AuditInDoubt as exc:
            # it may have been written: answered here, never audited again by the whole way
            log.warning(
                "fast lane: %s while auditing request %s; answered 503",
                type(exc.__cause__).__name__,
                request.request_id,
            )
            return http.service_unavailable(request.request_id), False, "unavailable"
        except Exception as exc:  # noqa: BLE001 - e.g. a lost connection: the whole way answers
            # an outage gets its one line from the whole way, which answers it (503)
            level = logging.DEBUG if is_unavailable(exc) else logging.WARNING
            log.log(
                level,
                "fast lane: %s in request %s; the whole way answers it",
                type(exc).__name__,
                request.request_id,
            )
            self._miss("connection")
            await self._give_back(principal, decision, cost)
            return None
        if answer is None:
            self._miss("answer")
            await self._give_back(principal, decision, cost)
            return None
        data, redactions, personal = answer
        out: dict[str, Any] = {"data": data}
        if redactions:
            out["extensions"] = {"redactions": redaction_report(redactions)}
        extra = None
        if decision is not None:
            budget = self.shared if self.shared is not None else self.buckets
            extra = rate_headers(budget, decision)
        response = Answered(orjson.dumps(out), extra)
        self.answered += 1
        if statement.plan is not None:
            self.reads.compiled += 1
        return response, personal, "ok"

    async def _give_back(self, principal: Principal, decision: Decision | None, cost: int) -> None:
        """The points a request took here, back to its bucket: the whole way answers it and
        takes what it costs there, once."""
        if decision is None or not decision.allowed:
            return
        if self.shared is not None:
            await self.shared.give_back(principal.key, cost)
        else:
            self.buckets.give_back(principal.key, cost)

    async def _statements(
        self, request_id: str, principal: Principal, digest: bytes, statement: Statement
    ) -> tuple[dict[str, Any], list[Any], bool] | None:
        """(data, redactions, whether personal data was disclosed), or None."""
        async with self.connections.connection() as conn:
            return await self._alone(conn, request_id, principal, digest, statement)

    async def _together(
        self, principal: Principal, digest: bytes, statement: Statement
    ) -> tuple[dict[str, Any], list[Any], bool] | None:
        """A write sent with the others of its text that wait (microspace/lane/batches.py),
        as `_alone` sends one."""
        count_statements(1)
        try:
            rows = await self.batches.rows(statement.sql, statement.arguments(digest))
        except asyncpg.PostgresError:
            return None  # the whole way answers, and reports the error as it does
        done = self._answer(principal, digest, statement, rows)
        return None if done is None else (done[0], done[1], False)

    async def _alone(
        self,
        conn: asyncpg.Connection,
        request_id: str,
        principal: Principal,
        digest: bytes,
        statement: Statement,
    ) -> tuple[dict[str, Any], list[Any], bool] | None:
        """One statement in its own implicit transaction: a read, or a write that is whole
        in its statement (it checks the principal itself and commits by itself); then a
        read's audit entry, if it disclosed personal data (`_audit`). Each statement sets
        the tenant for its own transaction (migrations 0013, 0042), so the connection goes
        back as it came."""
        count_statements(1)
        try:
            with self._span(statement.sql):
                rows = await conn.fetch(statement.sql, *statement.arguments(digest))
        except asyncpg.PostgresError:
            return None  # the whole way answers, and reports the error as it does
        done = self._answer(principal, digest, statement, rows)
        if done is None:
            return None
        data, redactions, entries = done
        if entries is not None and not await self._audit(
            conn, request_id, principal, digest, statement, entries
        ):
            return None
        return data, redactions, entries is not None

    async def _audit(
        self,
        conn: asyncpg.Connection,
        request_id: str,
        principal: Principal,
        digest: bytes,
        statement: Statement,
        entries: str,
    ) -> bool:
        """The read's audit entry, committed by its statement for the principal the read was
        checked for: True, or False when nothing was written (the whole way answers).
        Raises `AuditInDoubt` when the statement was sent and no answer came back."""
        who = (
            principal.tenant_id,
            _principal_json(principal),
            principal.kind,
            principal.member_id or principal.token_id,
            request_id,
            entries,
        )
        tail = [digest] if statement.origin is None else [digest, statement.origin]
        sql = AUDIT_SQL.format(auth=_credential(len(who) + 1, statement.origin))
        count_statements(1)
        try:
            with self._span(sql):
                appended = await conn.fetchval(sql, *who, *tail)
        except asyncpg.PostgresConnectionError as exc:  # the connection, not the statement
            raise AuditInDoubt from exc
        except asyncpg.PostgresError:
            return False  # PostgreSQL refused the statement: its transaction rolled back
        except Exception as exc:
            raise AuditInDoubt from exc
        if not appended:
            self.pipeline.known.forget(digest)  # revoked or changed since the read
        return bool(appended)

    def _span(self, sql: str) -> contextlib.AbstractContextManager[Any]:
        if self.tracer is None:
            return UNTRACED
        attributes = {"db.system": "postgresql", "db.statement": sql}
        span: contextlib.AbstractContextManager[Any]
        span = self.tracer.start_as_current_span("SELECT", attributes=attributes)
        return span

    def _answer(
        self,
        principal: Principal,
        digest: bytes,
        statement: Statement,
        rows: list[Any],
    ) -> tuple[dict[str, Any], list[Any], str | None] | None:
        """(data, redactions, the audit entries of the personal data it discloses), or
        None."""
        if statement.plan is None:
            # a write: its payload, committed for the principal the statement vouched for;
            # or nothing written (the whole way says why)
            if not (len(rows) == 1 and rows[0]["same"]):
                self.pipeline.known.forget(digest)
                return None
            payload = rows[0]["j"]
            if payload is None:
                return None
            value = orjson.loads(payload) if statement.loose else orjson.Fragment(payload)
            return {statement.key or "": value}, [], None
        if statement.known is not None:
            # no row: the tenant's credentials changed, the secret expired, another policy
            # version or origin: authenticate the whole way
            if len(rows) != 1:
                self.pipeline.known.forget(digest)
                return None
            row = tuple(rows[0])
        elif not (len(rows) == 1 and _same_principal(rows[0], principal)):
            # revoked, expired, another role or policy version: authenticate the whole way
            self.pipeline.known.forget(digest)
            return None
        else:
            row = tuple(rows[0])[7:]
        answer = assemble(statement.plan, row)
        if answer is None or answer.errors or answer.data is None:
            return None
        # listed subjects without a disclosed field read nothing: no entry
        entries = read_entries(answer.reads) if answer.reads else None
        return answer.data, answer.redactions, entries


class LaneMetrics:
    """The lane's counters in /metrics, read at scrape time: what it answered, why it
    handed requests to the whole way, and what the compiled read path answered in all
    (its share of queries: against `microspace_graphql_requests_total{type="query"}`)."""

    def __init__(self, lane: FastLane) -> None:
        self.lane = lane

    def collect(self) -> Iterator[CounterMetricFamily]:
        lane = self.lane
        answered = CounterMetricFamily(
            "microspace_fast_lane_answered", "Requests the fast lane answered."
        )
        answered.add_metric([], lane.answered)
        missed = CounterMetricFamily(
            "microspace_fast_lane_missed",
            "Requests the fast lane handed to the whole way, by first cause.",
            labels=["cause"],
        )
        for cause, count in sorted(lane.misses.items()):
            missed.add_metric([cause], count)
        compiled = CounterMetricFamily(
            "microspace_compiled_reads",
            "Queries answered by one compiled SQL statement (fast lane included).",
        )
        compiled.add_metric([], lane.reads.compiled)
        statements = CounterMetricFamily(
            "microspace_fast_lane_write_statements",
            "Statements that committed the fast lane's batched writes (microspace/lane/batches.py).",
        )
        statements.add_metric([], lane.batches.statements)
        writes = CounterMetricFamily(
            "microspace_fast_lane_batched_writes", "The writes those statements carried."
        )
        writes.add_metric([], lane.batches.writes)
        yield from (answered, missed, compiled, statements, writes)
