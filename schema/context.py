"""The typed per-request context every resolver receives."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import strawberry
from starlette.requests import Request

from core.audit import AuditBuffer
from core.auth import Principal
from core.config import Settings
from core.db import Db
from core.outcome import RequestOutcome
from files.storage import Storage
from policies.authz import Authorizer
from store.events import emit
from store.subscription_end import Subscription, Subscriptions

if TYPE_CHECKING:
    from privacy.erasure import StepHook
    from store.loaders import Loaders


@dataclass
class Context:
    request: Request
    request_id: str
    principal: Principal
    db: Db
    loaders: Loaders
    authz: Authorizer
    settings: Settings
    # what the limits decided (cost charged, refusal, request error), read by the entry
    outcome: RequestOutcome = field(default_factory=RequestOutcome)
    # set when an unexpected error was masked: the request's transaction is rolled back
    failed: bool = False
    # set when a resolver could not reach the database: the request answers 503
    unavailable: bool = False
    # (operation name, operation type) once parsed, for metrics
    operation: tuple[str | None, str] | None = None
    # compiled reads hand PostgreSQL's JSON text to the HTTP response as is; an in-process
    # caller that reads `result.data` (webhook payloads) wants plain values
    json_passthrough: bool = True
    # personal fields withheld by policy, as (path, category), reported in the response's
    # extensions (schema/build.py RedactionReport)
    redactions: list[tuple[Any, str]] = field(default_factory=list)
    # called after each committed erasure step (tests inject a crash with it)
    erasure_after_step: StepHook | None = None
    # each tenant's subscription, shared across requests (None: not checked, e.g. the
    # worker's in-process reads); `subscription` is set for a mutation before it runs
    subscriptions: Subscriptions | None = None
    subscription: Subscription | None = None
    # where files live (files/storage.py); None where no file is read or written
    storage: Storage | None = None
    audit: AuditBuffer = field(init=False)

    def __post_init__(self) -> None:
        self.audit = AuditBuffer(self.principal, self.request_id)

    async def emit(
        self,
        topic: str,
        object_ids: uuid.UUID | Sequence[uuid.UUID],
        fields: Iterable[str] = (),
        *,
        space: uuid.UUID | None = None,
    ) -> None:
        """Write the mutation's domain event in the request's transaction (store/events.py)."""
        await emit(self.db, topic, object_ids, fields, actor=self.principal.kind, space=space)


Info = strawberry.Info[Context, None]
