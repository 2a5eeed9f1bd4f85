"""One way to open a request, for every endpoint (`/graphql`, `/exports/{token}`).

Authenticate the caller, scope the transaction to its tenant, load the tenant's policies,
build the typed context (with its audit buffer), run the endpoint's step within the
execution timeout in one unit of work, and answer every failure with one coded error.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.requests import Request
from starlette.responses import Response

from core import http
from core.admission import Admission
from core.auth import Principal, authenticate, bearer_token, credential, hash_token
from core.db import Db, is_unavailable, unit_of_work
from core.http import Refusal, error_response
from core.outcome import RequestOutcome
from microspace.web import cors
from microspace.web.state import AppState
from policies.authz import Authorizer, load_tenant_policies
from privacy.sign_ins import SignInRecorder
from schema.context import Context
from store.audience import narrow_to_audience
from store.loaders import Loaders
from store.subscription_end import Subscriptions

log = logging.getLogger("microspace")

Step = Callable[[Context], Awaitable[Response]]
# credentials the fast lane may answer (microspace/lane/lane.py): members and partners, and
# widget keys and preview links for the documents shipped with the widget (their plans narrow every table to
# the key's audience, compiler/audience.py)
FAST_KINDS = frozenset({"member", "partner", "widget", "preview"})
MAX_PRINCIPALS = 100_000


class KnownPrincipals:
    """Principals the pipeline authenticated, by token hash (never the token), bounded."""

    def __init__(self, limit: int = MAX_PRINCIPALS) -> None:
        self.limit = limit
        self._by_hash: OrderedDict[bytes, Principal] = OrderedDict()

    def learn(self, authorization: str | None, principal: Principal) -> None:
        token = bearer_token(authorization)
        if not token or principal.kind not in FAST_KINDS or not principal.authenticated:
            return
        digest = hash_token(token)
        self._by_hash[digest] = principal
        self._by_hash.move_to_end(digest)
        while len(self._by_hash) > self.limit:
            self._by_hash.popitem(last=False)

    def get(self, digest: bytes) -> Principal | None:
        return self._by_hash.get(digest)

    def forget(self, digest: bytes) -> None:
        self._by_hash.pop(digest, None)


class Pipeline:
    def __init__(self, state: AppState) -> None:
        self.state = state
        settings = state.settings
        # requests take pooled connections in arrival order (core/db.py Db._admit)
        self.gate = asyncio.Semaphore(settings.pool_size + settings.max_overflow)
        # a fair share of the pool per tenant (core/admission.py, docs/limits.md)
        self.admission = Admission(settings.tenant_max_concurrency, settings.tenant_max_queue)
        self.sign_ins = SignInRecorder()
        self.known = KnownPrincipals()
        # tenants' subscriptions, by policy version (store/subscription_end.py)
        self.subscriptions = Subscriptions()

    def db(self, *, gated: bool = True) -> Db:
        return Db(
            self.state.sessionmaker,
            statement_timeout=self.state.settings.statement_timeout,
            # the audit of a failed request runs while that request still holds its turn
            gate=self.gate if gated else None,
        )

    async def serve(
        self, request: Request, step: Step, outcome: RequestOutcome | None = None
    ) -> Response:
        """Run `step` in an opened request; a refusal, a timeout or a crash becomes one error.

        The deadline starts before the waits for an admission slot and for a pooled
        connection: a request's whole life is bounded by the execution timeout.
        """
        deadline = asyncio.get_running_loop().time() + self.state.settings.execution_timeout
        client = request.client.host if request.client else "unknown"
        try:
            async with asyncio.timeout_at(deadline):
                lane = await self.admission.lane(self.db(), _credential(request), client, deadline)
            async with (
                self.admission.slot(lane, deadline),
                asyncio.timeout_at(deadline),
                self.open(request, outcome) as context,
            ):
                response = await step(context)
            if context.unavailable:
                return self.unavailable(request)
            return response
        except Refusal as refusal:
            return refusal.response()
        except TimeoutError:
            return self.timed_out()
        except Exception as exc:
            if is_unavailable(exc):
                return self.unavailable(request)
            request_id = request.state.request_id
            log.exception("unexpected error in request %s", request_id)
            return error_response(
                500,
                "INTERNAL_SERVER_ERROR",
                f"Internal error. Quote request id {request_id} to the operator.",
                requestId=request_id,
            )

    @asynccontextmanager
    async def open(
        self, request: Request, outcome: RequestOutcome | None = None
    ) -> AsyncIterator[Context]:
        """The request's context in one unit of work: committed with the audit of what the
        response discloses, or undone when the request failed (then audited apart)."""
        db = self.db()
        async with unit_of_work(db):
            context = await self.context(request, db, outcome or RequestOutcome())
            yield context
            if context.failed or db.aborted:
                db.discard()
            else:
                # the audit of what this response discloses commits with it, or not at all
                await context.audit.flush(db)
        if db.discarded or db.aborted:
            # the changes are undone, but what the response discloses is still audited
            await self.audit_apart(context)

    async def context(self, request: Request, db: Db, outcome: RequestOutcome) -> Context:
        state = self.state
        authorization = _credential(request)
        check = cors.pending(request.scope)
        principal = await authenticate(db, authorization, check.origin if check else None)
        if check is not None:
            # a page on another origin: nothing runs unless the credential allows it
            if not principal.authenticated or principal.origin_refused:
                raise cors.refusal(check.origin)
            check.allowed = True
        self.admission.learn(authorization, principal.tenant_id)
        self.known.learn(authorization, principal)
        if principal.authenticated:
            # a session start of a member or contact is recorded, coarsely (privacy/sign_ins.py)
            client = request.client.host if request.client else None
            await self.sign_ins.observe(db, principal, request.headers.get("user-agent"), client)
        if principal.tenant_id is not None:
            await load_tenant_policies(db, state.tenant_policies, principal)
        # a widget key or visitor sees less than its tenant (store/audience.py)
        await narrow_to_audience(db, principal)
        return Context(
            request=request,
            request_id=request.state.request_id,
            principal=principal,
            db=db,
            loaders=Loaders(db),
            authz=Authorizer(state.enforcer, principal, state.tenant_policies),
            settings=state.settings,
            outcome=outcome,
            erasure_after_step=state.erasure_after_step,
            subscriptions=self.subscriptions,
            storage=state.storage,
        )

    async def audit_apart(self, context: Context) -> None:
        """Write the audit entries of a rolled-back request in a transaction of their own."""
        if not len(context.audit) or context.principal.tenant_id is None:
            return
        async with unit_of_work(self.db(gated=False)) as audit_db:
            # authenticated again: the audit chain takes its principal from this transaction
            await authenticate(audit_db, _credential(context.request))
            await context.audit.flush(audit_db)

    def unavailable(self, request: Request) -> Response:
        """One log line, no traceback: an outage is an operating condition, not a bug."""
        request_id = request.state.request_id
        log.warning("database unavailable: request %s answered 503", request_id)
        return http.service_unavailable(request_id)

    def timed_out(self) -> Response:
        limit = self.state.settings.execution_timeout
        return error_response(
            503,
            "EXECUTION_TIMEOUT",
            f"The request ran past the {limit:g} s execution timeout (waits for a database "
            "connection included) and was cancelled; nothing was changed.",
            {"Retry-After": "1"},
            limit=limit,
        )


def _credential(request: Request) -> str | None:
    return credential(request.headers.get("authorization"), request.query_params.get("key"))
