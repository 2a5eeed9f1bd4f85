"""One way to open a request, for every endpoint (`/graphql`, `/exports/{token}`).

Authenticate the caller, scope the transaction to its tenant, load the tenant's policies,
build the typed context (with its audit buffer), run the endpoint's step within the
execution timeout in one unit of work, and answer every failure with one coded error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.requests import Request
from starlette.responses import Response

from core.auth import authenticate
from core.db import Db, unit_of_work
from core.http import Refusal, error_response
from core.outcome import RequestOutcome
from microspace.state import AppState
from policies.authz import Authorizer, load_tenant_policies
from schema.context import Context
from store.loaders import Loaders

log = logging.getLogger("microspace")

Step = Callable[[Context], Awaitable[Response]]


class Pipeline:
    def __init__(self, state: AppState) -> None:
        self.state = state

    def db(self) -> Db:
        return Db(self.state.sessionmaker, statement_timeout=self.state.settings.statement_timeout)

    async def serve(
        self, request: Request, step: Step, outcome: RequestOutcome | None = None
    ) -> Response:
        """Run `step` in an opened request; a refusal, a timeout or a crash becomes one error."""
        try:
            async with self.open(request, outcome) as context:
                async with asyncio.timeout(self.state.settings.execution_timeout):
                    return await step(context)
        except Refusal as refusal:
            return refusal.response()
        except TimeoutError:
            return self.timed_out()
        except Exception:
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
        principal = await authenticate(db, request.headers.get("authorization"))
        if principal.tenant_id is not None:
            await load_tenant_policies(db, state.tenant_policies, principal)
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
        )

    async def audit_apart(self, context: Context) -> None:
        """Write the audit entries of a rolled-back request in a transaction of their own."""
        if not len(context.audit) or context.principal.tenant_id is None:
            return
        async with unit_of_work(self.db()) as audit_db:
            await audit_db.set_tenant(context.principal.tenant_id)
            await context.audit.flush(audit_db)

    def timed_out(self) -> Response:
        limit = self.state.settings.execution_timeout
        return error_response(
            503,
            "EXECUTION_TIMEOUT",
            f"The request ran past the {limit:g} s execution timeout and was cancelled; "
            "nothing was changed.",
            limit=limit,
        )
