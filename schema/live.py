"""The Subscription root: live updates over `graphql-transport-ws` on `/graphql`.

Strawberry never runs these resolvers: the live endpoint (microspace/live/) answers each
event by running the subscriber's selection as a query of the field named in `TOPICS`
(microspace/live/topics.py), under the subscriber's current credential, through the same
request path as an HTTP query (authentication, policies, redaction, audit, limits).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from schema.consent import ConsentEvent
from schema.spaces import Space
from schema.subject_requests import SubjectRequest
from schema.usage import SpaceAnalytics


def _served_elsewhere() -> RuntimeError:
    return RuntimeError("subscriptions are served by the live endpoint (microspace/live/)")


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The space each time it changes: for members and partner keys, its draft "
        "and every publish; for widgets and visitors, each publish or unpublish. "
        "Every payload is `space(id:)` as the subscriber reads it at that moment."
    )
    async def space_changed(self, id: strawberry.ID) -> AsyncGenerator[Space | None, None]:
        raise _served_elsewhere()
        yield None

    @strawberry.subscription(
        description="The space each time one of its blocks is added, changed, moved or "
        "removed, or a revision is restored into its draft (members and partner keys), or its "
        "published blocks change (widgets and visitors: publish, unpublish)."
    )
    async def blocks_changed(self, space_id: strawberry.ID) -> AsyncGenerator[Space | None, None]:
        raise _served_elsewhere()
        yield None

    @strawberry.subscription(
        description="A contact opened a space or one of its blocks (a file, say), as usage "
        "analytics records it: only with the contact's analytics consent, and with small "
        "groups suppressed unless the caller may read individual analytics. The payload is "
        "`spaceAnalytics` of the space that was opened; with `spaceId`, of that space only."
    )
    async def engagement(
        self, space_id: strawberry.ID | None = None
    ) -> AsyncGenerator[SpaceAnalytics | None, None]:
        raise _served_elsewhere()
        yield None

    @strawberry.subscription(
        description="A data-subject request was filed, verified, extended, completed or "
        "rejected (for those who may read subject requests: privacy officers, owners)."
    )
    async def subject_request_updated(
        self, id: strawberry.ID | None = None
    ) -> AsyncGenerator[SubjectRequest | None, None]:
        raise _served_elsewhere()
        yield None

    @strawberry.subscription(
        description="A contact granted or withdrew consent (for roles that may read consent)."
    )
    async def consent_changed(self) -> AsyncGenerator[ConsentEvent | None, None]:
        raise _served_elsewhere()
        yield None
