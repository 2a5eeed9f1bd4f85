"""`Can(obj, act)`: authorization on the field, so no resolver can forget it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from strawberry.extensions import FieldExtension
from strawberry.types import Info

from core.auth import REFUSALS
from core.errors import Forbidden, Unauthenticated
from core.preview_links import REFUSED as PREVIEW_REFUSED
from store.subscription_end import refusal as subscription_refusal


def require(info: Info, obj: str | None, act: str | None) -> None:
    """Raise UNAUTHENTICATED or FORBIDDEN unless the principal may `act` on `obj`."""
    ctx = info.context
    if not ctx.principal.authenticated:
        refusal = ctx.principal.refusal
        if refusal in PREVIEW_REFUSED:
            raise PREVIEW_REFUSED[refusal]()
        if refusal in REFUSALS:
            raise Unauthenticated(REFUSALS[refusal], reason=f"KEY_{refusal.upper()}")
        if ctx.principal.rejected:
            raise Unauthenticated("The bearer token is invalid or has been revoked.")
        raise Unauthenticated()
    if obj is not None and act is not None and not ctx.authz.can(obj, act):
        raise Forbidden(f"You may not {act} {obj}.")
    subscription = getattr(ctx, "subscription", None)  # set for mutations only
    if subscription is not None and info.path.typename == "Mutation":
        # after the subscription ends, writes but the exempt ones (store/subscription_end.py)
        ended = subscription_refusal(
            subscription, info.field_name, ctx.settings.retention_grace_days
        )
        if ended is not None:
            raise ended


class Can(FieldExtension):
    """Allow the field only for principals the policy lets `act` on `obj`."""

    def __init__(self, obj: str, act: str) -> None:
        self.obj = obj
        self.act = act

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        require(info, self.obj, self.act)
        return next_(source, info, **kwargs)

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        require(info, self.obj, self.act)
        return await next_(source, info, **kwargs)


class Authenticated(Can):
    """Any authenticated principal; the resolver scopes what it returns."""

    def __init__(self) -> None:
        self.obj = None  # type: ignore[assignment]
        self.act = None  # type: ignore[assignment]
