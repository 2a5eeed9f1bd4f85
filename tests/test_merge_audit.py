"""Merge-field reads audited and withheld values reported, through HTTP on every read path.

Invariants:
- a member's or partner key's read of block text whose merge fields show a contact's
  values (in full or masked) writes the audit entry a direct read of those contact fields
  writes: that contact as subject, `fullName` (first or full name) and `company`;
- a value the reader's role withholds (the fallback shows) is listed in
  `extensions.redactions` at the block's `body` and `content`, with the contact field's
  category, as a withheld contact field is;
- a fallback discloses nothing, so audits nothing: a template's blocks (no contact), a
  widget key, a contact without a company;
- a visitor's own values are audited as a visitor's read of their own consent is;
- the compiled path, the fast lane and the resolver path answer, report and audit alike;
  a read of blocks without merge fields is still one statement on the fast lane.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import text, update

from core.db import owner_db
from core.ids import encode_id
from models import Block, Contact, Space
from tests.factories import make_access, make_key, make_spaces, mint_key, publish
from tests.test_merge_fields import BLOCKS, TEXT, _texts, _world
from tests.widgets import PersistedApi, open_visitor

NAME, COMPANY = "user.name", "user.contact.organization"
REASON = "not permitted by policy"
CONTACT = "query($id: ID!) { contact(id: $id) { fullName company } }"
CONSENTS = "query($id: ID!) { contact(id: $id) { consents { purpose granted } } }"

# who reads: (the text, the contact fields audited, the categories withheld)
ROLES = {
    "owner": ("Hello Jane from Initech, Sam Advisor", ["company", "fullName"], []),
    # viewers read names, not companies
    "viewer": ("Hello Jane from your company, Sam Advisor", ["fullName"], [COMPANY]),
    # masked values are disclosed in part: audited, as a masked contact field is
    "contacts:read": ("Hello J*** from I***, Sam Advisor", ["company", "fullName"], []),
    "spaces:read": ("Hello there from your company, Sam Advisor", [], [NAME, COMPANY]),
}


async def _token(owner_url: str, t: Any, new_member: Any, who: str) -> str:
    if who == "owner":
        return str(t.token)
    if ":" in who:
        return await make_key(owner_url, t.tenant_id, "partner", ["spaces:read", who])
    return str((await new_member(t.tenant_id, who)).token)


async def _reads(owner_engine: Any, tenant_id: uuid.UUID) -> list[tuple[str, list[str], list[str]]]:
    """The tenant's read entries: (principal kind, fields, subjects), oldest first."""
    async with owner_engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT principal_kind, fields, subject_contact_ids FROM audit_log "
                "WHERE tenant_id = :t AND operation = 'read' ORDER BY seq"
            ),
            {"t": tenant_id},
        )
        return [(r[0], sorted(r[1]), sorted(map(str, r[2]))) for r in rows]


def _withheld(categories: list[str]) -> list[dict[str, Any]]:
    at = ["space", "blocks", "edges", 0, "node"]
    return [
        {"path": [*at, field], "category": c, "reason": REASON}
        for field in ("body", "content")
        for c in categories
    ]


def _redactions(result: dict[str, Any]) -> list[dict[str, Any]]:
    return sorted(
        (result.get("extensions") or {}).get("redactions", []),
        key=lambda r: (str(r["path"]), r["category"]),
    )


def _answered(app: Any, read_path: str, before: int) -> None:
    assert (app.state.compiled_reads.compiled > before) == (read_path == "compiled")


@pytest.mark.parametrize("who", list(ROLES))
async def test_a_read_audits_what_its_merge_fields_show_as_a_direct_read_does(
    api, served_app, new_tenant, new_member, owner_url, owner_engine, read_path, who
):
    expected, fields, withheld = ROLES[who]
    t, space, jane = await _world(new_tenant, new_member, owner_url)
    token = await _token(owner_url, t, new_member, who)
    kind = "partner" if ":" in who else "member"
    before = served_app.state.compiled_reads.compiled

    result = await api(token)(BLOCKS, {"id": encode_id("Space", space)})

    _answered(served_app, read_path, before)
    assert _texts(result) == [expected]
    merged = await _reads(owner_engine, t.tenant_id)
    assert merged == ([(kind, fields, [str(jane)])] if fields else [])
    assert _redactions(result) == _redactions({"extensions": {"redactions": _withheld(withheld)}})

    # the same entry as reading the contact's fields themselves (a partner key without
    # contacts:read may not: neither audits anything)
    await api(token).post(CONTACT, {"id": encode_id("Contact", jane)})
    direct = (await _reads(owner_engine, t.tenant_id))[len(merged) :]
    assert direct == merged


async def test_the_fast_lane_audits_and_reports_as_the_whole_way(
    app, api, new_tenant, new_member, owner_url, owner_engine, monkeypatch
):
    t, space, jane = await _world(new_tenant, new_member, owner_url)
    lane = app.state.fast_lane
    audited: list[Any] = []  # the audit entries the lane wrote, a statement each
    original = lane._audit

    async def watched(*args: Any) -> Any:
        audited.append(args[-1])
        return await original(*args)

    monkeypatch.setattr(lane, "_audit", watched)
    for who in ("owner", "viewer"):
        _, fields, withheld = ROLES[who]
        token = await _token(owner_url, t, new_member, who)
        answered, mark = lane.answered, len(await _reads(owner_engine, t.tenant_id))
        variables = {"id": encode_id("Space", space)}
        first = await api(token).post(BLOCKS, variables)  # the whole way, which learns it
        second = await api(token).post(BLOCKS, variables)  # the fast lane

        assert lane.answered == answered + 1, who
        assert first.json() == second.json()
        assert _redactions(second.json()) == _redactions(
            {"extensions": {"redactions": _withheld(withheld)}}
        )
        reads = (await _reads(owner_engine, t.tenant_id))[mark:]
        assert reads == [("member", fields, [str(jane)])] * 2, who
        assert len(audited) == (1 if who == "owner" else 2), who  # the lane's own entry

    # a new alias shares the learned plan (its keys as marks): reported at the alias
    viewer = await _token(owner_url, t, new_member, "viewer")
    for alias in ("first", "second"):
        answered = lane.answered
        aliased = await api(viewer)(
            f"query($id: ID!) {{ space(id: $id) {{ blocks {{ edges {{ node {{ {alias}: body }} "
            "} } } }",
            {"id": encode_id("Space", space)},
        )
        assert aliased["extensions"]["redactions"] == [
            {
                "path": ["space", "blocks", "edges", 0, "node", alias],
                "category": COMPANY,
                "reason": REASON,
            }
        ]
    assert lane.answered == answered + 1  # the second alias: the fast lane

    # blocks without merge fields: the read's one statement, no audit entry
    plain = (await make_spaces(owner_url, t.tenant_id, 1, blocks_each=2))[0]
    answered, mark = lane.answered, len(await _reads(owner_engine, t.tenant_id))
    await api(t.token)(BLOCKS, {"id": encode_id("Space", plain)})  # the document is known
    assert lane.answered == answered + 1
    assert len(audited) == 3  # the second alias read by the lane; none for plain blocks
    assert (await _reads(owner_engine, t.tenant_id))[mark:] == []


async def test_a_fallback_discloses_nothing(
    api, client, served_app, new_tenant, new_member, owner_url, owner_engine, read_path
):
    t, space, jane = await _world(new_tenant, new_member, owner_url)
    variables = {"id": encode_id("Space", space)}
    # an escaped merge field is text: nothing filled in, nothing audited
    async with owner_db(owner_url, t.tenant_id) as db:
        body = {"text": "Hi \\{{contact.fullName}}", "level": 2}
        await db.execute(update(Block).values(body=body))
    result = await api(t.token)(BLOCKS, variables)
    assert _texts(result) == ["Hi {{contact.fullName}}"]
    assert await _reads(owner_engine, t.tenant_id) == []
    async with owner_db(owner_url, t.tenant_id) as db:
        await db.execute(update(Block).values(body={"text": TEXT, "level": 2}))
    # a contact without a company: only the name is shown, only the name is audited
    async with owner_db(owner_url, t.tenant_id) as db:
        await db.execute(update(Contact).where(Contact.id == jane).values(company=None))
    result = await api(t.token)(BLOCKS, variables)
    assert _texts(result) == ["Hello Jane from your company, Sam Advisor"]
    assert await _reads(owner_engine, t.tenant_id) == [("member", ["fullName"], [str(jane)])]

    # a space for no contact (a template): every field its fallback, nothing audited or
    # reported, whatever the role
    async with owner_db(owner_url, t.tenant_id) as db:
        await db.execute(update(Space).values(contact_id=None))
    await publish(owner_url, t.tenant_id, space)
    viewer = (await new_member(t.tenant_id, "viewer")).token
    for token in (t.token, viewer):
        before = served_app.state.compiled_reads.compiled
        result = await api(token)(BLOCKS, variables)
        _answered(served_app, read_path, before)
        assert _texts(result) == ["Hello there from your company, Sam Advisor"]
        assert "extensions" not in result
    # a widget key: fallbacks, nothing audited
    key = await mint_key(
        api(t.token), "widget", [], spaceIds=[variables["id"]], allowedOrigins=["https://a.example"]
    )
    widget = await PersistedApi(client, key, api(t.token))(BLOCKS, variables)
    assert _texts(widget) == ["Hello there from your company, "]
    assert await _reads(owner_engine, t.tenant_id) == [("member", ["fullName"], [str(jane)])]


async def test_a_visitors_own_values_are_audited_as_their_own_consent_is(
    api, client, served_app, new_tenant, new_member, owner_url, owner_engine, settings, read_path
):
    t, space, jane = await _world(new_tenant, new_member, owner_url)
    await make_access(owner_url, t.tenant_id, space, [jane])
    session = await open_visitor(client, settings.secret(), t.tenant_id, space, jane)
    visitor = PersistedApi(client, session["visitorToken"], api(t.token))

    await visitor(CONSENTS, {"id": session["contactId"]})
    own = await _reads(owner_engine, t.tenant_id)
    assert own and all(kind == "visitor" and subjects == [str(jane)] for kind, _, subjects in own)

    before = served_app.state.compiled_reads.compiled
    result = await visitor(BLOCKS, {"id": encode_id("Space", space)})

    _answered(served_app, read_path, before)
    assert _texts(result) == ["Hello Jane from Initech, Sam Advisor"]
    assert "extensions" not in result
    reads = (await _reads(owner_engine, t.tenant_id))[len(own) :]
    assert reads == [("visitor", ["company", "fullName"], [str(jane)])]


async def test_both_paths_answer_report_and_audit_alike(
    app, api, new_tenant, new_member, owner_url, owner_engine
):
    """A differential check over roles, a second block and a locale's body: the same
    bytes, redactions and audit entries with the compiled path on and off."""
    t, space, jane = await _world(new_tenant, new_member, owner_url)
    async with owner_db(owner_url, t.tenant_id) as db:
        db.add(
            Block(
                id=uuid.uuid4(),
                space_id=space,
                kind="heading",
                position=1,
                body={"text": "{{contact.fullName}} only", "level": 3},
            )
        )
    reads = app.state.compiled_reads
    query = """query($id: ID!) { space(id: $id) { title blocks { edges { node { id body
      content { ... on HeadingBody { text } } } } } } }"""
    variables = {"id": encode_id("Space", space)}
    for who in ROLES:
        token = await _token(owner_url, t, new_member, who)
        answers, entries = [], []
        for enabled in (True, False):
            reads.enabled = enabled
            mark = len(await _reads(owner_engine, t.tenant_id))
            before = reads.compiled
            try:
                answers.append(await api(token).post(query, variables))
            finally:
                reads.enabled = True
            assert (reads.compiled > before) == enabled, who
            entries.append((await _reads(owner_engine, t.tenant_id))[mark:])
        assert answers[0].content == answers[1].content, who
        assert entries[0] == entries[1], who
        fields = ROLES[who][1]
        assert entries[0] == (
            [("partner" if ":" in who else "member", fields, [str(jane)])] if fields else []
        ), who
