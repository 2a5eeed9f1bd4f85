"""The subject-request state machine: one table of allowed steps, one checked `transition`.

Invariants guarded here:
- every (from, to) pair the table lacks raises IllegalTransition naming both, and changes
  nothing: no new state, no trail row;
- every pair the table holds moves the request and writes one trail row (who, from, to,
  note), which PostgreSQL accepts and keeps;
- the states and kinds are declared once and are exactly those the database allows;
- through GraphQL an illegal step is the INVALID_STATE user error, with the message clients
  know, and changes nothing;
- an erasure refuses to start from a transaction that has already written.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from core.db import owner_db
from models import RequestKind, RequestState, SubjectRequest, SubjectRequestEvent, Suppression
from models.subject_request import OPEN_STATES, TRANSITIONS
from privacy.erasure import ErasureInsideWrites, run_erasure
from privacy.requests import IllegalTransition, transition

S = RequestState
ACTOR = ("member", uuid.uuid4())
PAIRS = [(f, t) for f in [None, *RequestState] for t in RequestState]
TRAIL = "query($id: ID!) { subjectRequest(id: $id) { state trail { fromState toState } } }"
FILE = "mutation($e: String) { subjectAccessRequest(input: {email: $e}) { request { id } } }"
VERIFY = "mutation($id: ID!, $a: String) { subjectRequestVerify(input: {id: $id, attestation: $a}) { request { state } userErrors { code field message } } }"
PROCESS = "mutation($id: ID!) { subjectRequestProcess(id: $id) { request { state } userErrors { code field message } } }"
REJECT = "mutation($id: ID!, $r: String!) { subjectRequestReject(input: {id: $id, reason: $r}) { request { state } userErrors { code field message } } }"


def _name(state: RequestState | None) -> str:
    return state.value if state else "new"


def _request(state: RequestState | None, kind: RequestKind = RequestKind.ACCESS) -> SubjectRequest:
    row = SubjectRequest(
        id=uuid.uuid4(),
        kind=kind.value,
        subject_email=f"s-{uuid.uuid4().hex[:8]}@example.com",
        subject_hash=uuid.uuid4().bytes,
        contact_ids=[],
        due_at=datetime(2030, 1, 1, tzinfo=UTC),
        created_by_kind="member",
        progress=[],
    )
    if state is not None:
        row.state = state.value
        # the database requires a reason on every rejected request
        row.rejection_reason = "a reason" if state is S.REJECTED else None
    return row


async def _stored(owner_url, tenant_id, request_id) -> tuple[str | None, list[tuple]]:
    async with owner_db(owner_url, tenant_id) as db:
        state = await db.scalar(select(SubjectRequest.state).where(SubjectRequest.id == request_id))
        events = await db.execute(
            select(
                SubjectRequestEvent.from_state,
                SubjectRequestEvent.to_state,
                SubjectRequestEvent.actor_kind,
                SubjectRequestEvent.actor_id,
                SubjectRequestEvent.note,
            ).where(SubjectRequestEvent.request_id == request_id)
        )
        return state, [tuple(e) for e in events]


@pytest.mark.parametrize(
    ("from_state", "to_state"), PAIRS, ids=[f"{_name(f)}->{t.value}" for f, t in PAIRS]
)
async def test_every_pair_against_the_table(from_state, to_state, new_tenant, owner_url):
    tenant = await new_tenant()
    legal = to_state in TRANSITIONS[from_state]
    row = _request(from_state)
    raised: IllegalTransition | None = None
    async with owner_db(owner_url, tenant.tenant_id) as db:
        if from_state is not None:
            db.add(row)
            await db.flush()
        try:
            transition(db, row, to_state, actor=ACTOR, note="why")
        except IllegalTransition as exc:
            raised = exc
        else:
            if from_state is None:
                db.add(row)  # filed: the row and its first trail row together
            if to_state is S.REJECTED:
                row.rejection_reason = "a reason"
    state, events = await _stored(owner_url, tenant.tenant_id, row.id)
    if legal:
        assert raised is None
        assert state == to_state.value
        assert events == [
            (_name(from_state) if from_state else None, to_state.value, *ACTOR, "why")
        ]
    else:
        assert raised is not None, "the table forbids this step"
        assert (raised.from_state, raised.to_state) == (from_state, to_state)
        assert (
            f"from {_name(from_state) if from_state else '(not filed)'} to {to_state.value}"
            in str(raised)
        )
        assert row.state == (from_state.value if from_state else None)
        assert state == (from_state.value if from_state else None) and events == []


# the machine clients rely on, written out: changing it is a change of the API's behaviour
DOCUMENTED = {
    (None, S.RECEIVED),
    (S.RECEIVED, S.VERIFYING),
    (S.RECEIVED, S.VERIFIED),
    (S.VERIFYING, S.VERIFIED),
    (S.VERIFIED, S.PROCESSING),
    (S.PROCESSING, S.COMPLETED),
    *((s, S.REJECTED) for s in (S.RECEIVED, S.VERIFYING, S.VERIFIED)),
    # a note without a change (a due-date extension), while open
    *((s, s) for s in (S.RECEIVED, S.VERIFYING, S.VERIFIED, S.PROCESSING)),
}


def test_the_table_is_the_documented_machine():
    assert set(TRANSITIONS) == {None, *RequestState}
    assert {(f, t) for f, targets in TRANSITIONS.items() for t in targets} == DOCUMENTED
    assert TRANSITIONS[S.COMPLETED] == TRANSITIONS[S.REJECTED] == frozenset()
    assert set(OPEN_STATES) == {s.value for s in RequestState} - {"completed", "rejected"}
    # every open state can still end: completed or rejected is reachable from it
    for start in OPEN_STATES:
        seen, todo = set(), [S(start)]
        while todo:
            state = todo.pop()
            seen.add(state)
            todo.extend(TRANSITIONS[state] - seen)
        assert S.COMPLETED in seen or S.REJECTED in seen, start


async def test_states_and_kinds_are_the_ones_the_database_allows(owner_engine):
    async with owner_engine.connect() as conn:
        checks = await conn.scalars(
            text(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'subject_requests'::regclass AND contype = 'c'"
            )
        )
        definitions = " ".join(checks)
    for value in [*(s.value for s in RequestState), *(k.value for k in RequestKind)]:
        assert f"'{value}'" in definitions, value


async def _filed(officer) -> str:
    filed = await officer(FILE, {"e": f"nobody-{uuid.uuid4().hex[:6]}@example.com"})
    return filed["data"]["subjectAccessRequest"]["request"]["id"]


async def test_an_illegal_step_through_graphql_is_a_user_error(api, new_tenant, new_member):
    # given a rejected request, and a received one
    tenant = await new_tenant()
    officer = api((await new_member(tenant.tenant_id, "privacy_officer")).token)
    rejected_id, pending_id = await _filed(officer), await _filed(officer)
    await officer(REJECT, {"id": rejected_id, "r": "Duplicate"})
    before = await officer(TRAIL, {"id": rejected_id})

    # when it is verified, rejected again, or the other processed before verification
    verify = (await officer(VERIFY, {"id": rejected_id, "a": "passport"}))["data"]
    reject = (await officer(REJECT, {"id": rejected_id, "r": "again"}))["data"]
    process = (await officer(PROCESS, {"id": pending_id}))["data"]

    # then each is the INVALID_STATE user error clients know, and nothing changed
    assert verify["subjectRequestVerify"] == {
        "request": None,
        "userErrors": [
            {
                "code": "INVALID_STATE",
                "field": ["id"],
                "message": "A rejected request cannot be verified.",
            }
        ],
    }
    assert reject["subjectRequestReject"]["userErrors"] == [
        {
            "code": "INVALID_STATE",
            "field": ["id"],
            "message": "A rejected request cannot be rejected.",
        }
    ]
    assert process["subjectRequestProcess"]["userErrors"] == [
        {
            "code": "INVALID_STATE",
            "field": ["id"],
            "message": "A verifying request cannot be processed; verify it first.",
        }
    ]
    assert await officer(TRAIL, {"id": rejected_id}) == before
    pending = (await officer(TRAIL, {"id": pending_id}))["data"]["subjectRequest"]
    assert pending["state"] == "VERIFYING"


async def test_erasure_refuses_a_caller_that_has_written(new_tenant, owner_url):
    tenant = await new_tenant()
    row = _request(S.VERIFIED, RequestKind.ERASURE)
    async with owner_db(owner_url, tenant.tenant_id) as db:
        db.add(row)
    async with owner_db(owner_url, tenant.tenant_id) as db:
        # the caller's transaction writes first: the erasure's own steps would not see it
        db.add(Suppression(id=uuid.uuid4(), email_hash=uuid.uuid4().bytes))
        with pytest.raises(ErasureInsideWrites, match="transaction of its own"):
            await run_erasure(db, row.id, actor=ACTOR)
    state, events = await _stored(owner_url, tenant.tenant_id, row.id)
    assert state == "verified" and events == []
