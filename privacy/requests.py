"""The subject-request state machine: one checked step, one trail row.

Every state change of a request, by a resolver or by the erasure engine, goes through
`transition`: it checks the table declared with the states (models/subject_request.py
TRANSITIONS), writes the trail row (who, from, to, note) in the caller's transaction, and
refuses an illegal step with `IllegalTransition` before anything is written.
"""

from __future__ import annotations

import uuid

from core.db import Db
from models import RequestState, SubjectRequest, SubjectRequestEvent
from models.subject_request import TRANSITIONS

# who made a step: the principal's kind and its member or token id
Actor = tuple[str, uuid.UUID | None]


class IllegalTransition(Exception):
    """The transitions table does not allow this step; nothing was changed."""

    def __init__(self, from_state: RequestState | None, to_state: RequestState) -> None:
        self.from_state = from_state
        self.to_state = to_state
        origin = from_state.value if from_state else "(not filed)"
        allowed = sorted(s.value for s in TRANSITIONS[from_state]) or ["nothing"]
        super().__init__(
            f"A subject request cannot go from {origin} to {to_state.value}; "
            f"from {origin} it may go to: {', '.join(allowed)}."
        )


def state_of(row: SubjectRequest) -> RequestState | None:
    """The row's state; None for a request not yet filed (no state set)."""
    return RequestState(row.state) if row.state else None


def allowed(from_state: RequestState | None, to_state: RequestState) -> bool:
    return to_state in TRANSITIONS[from_state]


def check(row: SubjectRequest, to_state: RequestState) -> None:
    """Raise IllegalTransition unless the row may go to `to_state`; changes nothing."""
    from_state = state_of(row)
    if not allowed(from_state, to_state):
        raise IllegalTransition(from_state, to_state)


def transition(
    db: Db,
    row: SubjectRequest,
    to_state: RequestState,
    *,
    actor: Actor,
    note: str | None = None,
) -> SubjectRequestEvent:
    """Move the request to `to_state` and add its trail row, or raise IllegalTransition."""
    check(row, to_state)
    event = SubjectRequestEvent(
        id=uuid.uuid4(),
        request_id=row.id,
        from_state=row.state or None,
        to_state=to_state.value,
        actor_kind=actor[0],
        actor_id=actor[1],
        note=note,
    )
    db.add(event)
    # the plain value, not the member: the column is a string and messages print it
    row.state = to_state.value
    return event
