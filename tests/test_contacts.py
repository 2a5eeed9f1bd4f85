"""Contacts through HTTP.

Invariants guarded here:
- an e-mail address is unique per tenant after normalisation (case, whitespace): a duplicate
  is a typed user error, never a failed request;
- an import with any bad row imports nothing and names every bad row by its index;
- a contact ID of another tenant behaves exactly like one that never existed, everywhere;
- listing contacts with their consents and spaces costs the same statements for 5 or 100.

Over 300 lines on purpose: one module per promise, with its matrix and its cases together.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event, select

from core.db import owner_db
from core.ids import encode_id
from models import ConsentEvent, SpaceAccess
from tests.conftest import error_codes
from tests.factories import make_access, make_contacts, make_spaces

CREATE = """
mutation($input: ContactCreateInput!) {
  contactCreate(input: $input) {
    contact { id email fullName company jobTitle phone locale }
    userErrors { code field message row }
  }
}"""
UPDATE = """
mutation($input: ContactUpdateInput!) {
  contactUpdate(input: $input) { contact { id email fullName } userErrors { code field } }
}"""
IMPORT = """
mutation($rows: [ContactCreateInput!]!) {
  contactImport(input: {contacts: $rows}) {
    importedCount contacts { email } userErrors { code field row message }
  }
}"""
LIST = """
query($search: String) {
  contacts(first: 50, search: $search) { totalCount edges { node { email fullName } } }
}"""


async def test_create_update_search_delete(api, new_tenant):
    owner = api((await new_tenant()).token)
    # when
    created = await owner(
        CREATE,
        {
            "input": {
                "email": "  Ada.Lovelace@Example.COM ",
                "fullName": "Ada Lovelace",
                "company": "Analytical 100%",
                "jobTitle": "Engineer",
                "phone": "+44 20 7946 0000",
                "locale": "en-GB",
            }
        },
    )
    # then
    payload = created["data"]["contactCreate"]
    assert payload["userErrors"] == []
    contact = payload["contact"]
    assert contact["email"] == "ada.lovelace@example.com"
    await owner(CREATE, {"input": {"email": "grace@example.com", "fullName": "Grace Hopper"}})

    found = await owner(LIST, {"search": "lovelace"})
    assert [e["node"]["email"] for e in found["data"]["contacts"]["edges"]] == [
        "ada.lovelace@example.com"
    ]
    # LIKE wildcards in the search are literal
    assert (await owner(LIST, {"search": "100%"}))["data"]["contacts"]["totalCount"] == 1
    assert (await owner(LIST, {"search": "_"}))["data"]["contacts"]["totalCount"] == 0
    assert (await owner(LIST, {"search": "GRACE@"}))["data"]["contacts"]["totalCount"] == 1
    assert (await owner(LIST, {}))["data"]["contacts"]["totalCount"] == 2

    updated = await owner(
        UPDATE, {"input": {"id": contact["id"], "fullName": "Augusta Ada King", "company": ""}}
    )
    assert updated["data"]["contactUpdate"]["contact"]["fullName"] == "Augusta Ada King"
    deleted = await owner(
        "mutation($id: ID!) { contactDelete(id: $id) { deletedContactId } }", {"id": contact["id"]}
    )
    assert deleted["data"]["contactDelete"]["deletedContactId"] == contact["id"]
    gone = await owner("query($id: ID!) { contact(id: $id) { email } }", {"id": contact["id"]})
    assert error_codes(gone) == ["NOT_FOUND"]


async def test_invalid_fields_are_user_errors(api, new_tenant):
    owner = api((await new_tenant()).token)
    result = await owner(
        CREATE,
        {
            "input": {
                "email": "not-an-address",
                "phone": "call me",
                "locale": "english!",
                "fullName": "x" * 201,
            }
        },
    )
    codes = {(e["code"], e["field"][0]) for e in result["data"]["contactCreate"]["userErrors"]}
    assert codes == {
        ("INVALID_EMAIL", "email"),
        ("INVALID_PHONE", "phone"),
        ("INVALID_LOCALE", "locale"),
        ("TOO_LONG", "full_name"),
    }
    assert result["data"]["contactCreate"]["contact"] is None


@pytest.mark.parametrize(
    ("email", "valid"),
    [
        ("jo@" + "d" * 63 + ".example", True),
        ("jo@" + "d" * 64 + ".example", False),  # a label longer than 63 (RFC 1035)
        ("jo@" + "d" * 300 + ".example", False),
        ("j" * 64 + "@example.com", True),
        ("j" * 65 + "@example.com", False),  # a local part longer than 64 (RFC 5321)
        ("jo@" + ("d" * 60 + ".") * 4 + "example.com", False),  # a path longer than 254
    ],
)
async def test_address_lengths_follow_the_rfcs(api, new_tenant, email, valid):
    owner = api((await new_tenant()).token)
    result = await owner(CREATE, {"input": {"email": email}})
    codes = [e["code"] for e in result["data"]["contactCreate"]["userErrors"]]
    assert codes == ([] if valid else ["INVALID_EMAIL"]), result


async def test_duplicate_email_variants_are_a_user_error(api, new_tenant):
    owner = api((await new_tenant()).token)
    first = await owner(CREATE, {"input": {"email": "Jane.Doe@Example.com"}})
    assert first["data"]["contactCreate"]["userErrors"] == []
    for variant in [
        "jane.doe@example.com",
        "  JANE.DOE@EXAMPLE.COM\t",
        "\u00a0Jane.Doe@example.Com ",
    ]:
        again = await owner(CREATE, {"input": {"email": variant}})
        assert "errors" not in again
        assert again["data"]["contactCreate"]["contact"] is None
        assert [(e["code"], e["field"]) for e in again["data"]["contactCreate"]["userErrors"]] == [
            ("DUPLICATE_EMAIL", ["email"])
        ]
    other = await owner(CREATE, {"input": {"email": "john@example.com"}})
    changed = await owner(
        UPDATE,
        {
            "input": {
                "id": other["data"]["contactCreate"]["contact"]["id"],
                "email": " JANE.doe@example.com",
            }
        },
    )
    assert [e["code"] for e in changed["data"]["contactUpdate"]["userErrors"]] == [
        "DUPLICATE_EMAIL"
    ]
    # the same address in another tenant is no duplicate (and reveals nothing)
    elsewhere = api((await new_tenant()).token)
    assert (await elsewhere(CREATE, {"input": {"email": "jane.doe@example.com"}}))["data"][
        "contactCreate"
    ]["userErrors"] == []


async def test_import_with_a_bad_row_imports_nothing_and_names_the_row(api, new_tenant):
    owner = api((await new_tenant()).token)
    await owner(CREATE, {"input": {"email": "existing@example.com"}})
    rows = [
        {"email": "a@example.com", "fullName": "A"},
        {"email": "b@@example"},  # 1: invalid
        {"email": "c@example.com"},
        {"email": " A@EXAMPLE.com"},  # 3: duplicate of row 0
        {"email": "Existing@example.com"},  # 4: already a contact
        {"email": "d@example.com", "jobTitle": "j" * 300},  # 5: too long
    ]
    # when
    result = await owner(IMPORT, {"rows": rows})
    # then
    payload = result["data"]["contactImport"]
    assert payload["importedCount"] == 0 and payload["contacts"] == []
    assert [(e["row"], e["code"]) for e in payload["userErrors"]] == [
        (1, "INVALID_EMAIL"),
        (3, "DUPLICATE_EMAIL"),
        (4, "DUPLICATE_EMAIL"),
        (5, "TOO_LONG"),
    ]
    assert (await owner(LIST, {}))["data"]["contacts"]["totalCount"] == 1

    good = await owner(IMPORT, {"rows": [rows[0], rows[2], {"email": "d@example.com"}]})
    assert good["data"]["contactImport"]["importedCount"] == 3
    assert [c["email"] for c in good["data"]["contactImport"]["contacts"]] == [
        "a@example.com",
        "c@example.com",
        "d@example.com",
    ]
    assert (await owner(LIST, {}))["data"]["contacts"]["totalCount"] == 4


async def test_import_is_capped(api, new_tenant):
    owner = api((await new_tenant()).token)
    rows = [{"email": f"p{i}@example.com"} for i in range(1001)]
    result = await owner(IMPORT, {"rows": rows})
    errors = result["data"]["contactImport"]["userErrors"]
    assert [(e["code"], e["row"]) for e in errors] == [("TOO_MANY_ROWS", None)]
    assert (await owner(LIST, {}))["data"]["contacts"]["totalCount"] == 0


async def test_viewer_reads_but_cannot_write_contacts(api, new_tenant, new_member):
    t = await new_tenant()
    viewer = api((await new_member(t.tenant_id, "viewer")).token)
    assert error_codes(await viewer(CREATE, {"input": {"email": "x@example.com"}})) == ["FORBIDDEN"]
    assert (await viewer(LIST, {}))["data"]["contacts"]["totalCount"] == 0


NODE = "query($id: ID!) { node(id: $id) { id } }"
FOREIGN_CHECKS = [
    ("query($id: ID!) { contact(id: $id) { email } }", lambda c, s: {"id": c}),
    ("query($id: ID!) { node(id: $id) { id } }", lambda c, s: {"id": c}),
    (
        'mutation($id: ID!) { contactUpdate(input: {id: $id, fullName: "x"}) { contact { id } } }',
        lambda c, s: {"id": c},
    ),
    ("mutation($id: ID!) { contactDelete(id: $id) { deletedContactId } }", lambda c, s: {"id": c}),
    (
        'mutation($id: ID!) { consentGrant(input: {contactId: $id, purpose: ANALYTICS, policyVersion: "v1"}) { event { id } } }',
        lambda c, s: {"id": c},
    ),
    (
        "mutation($id: ID!) { consentWithdraw(input: {contactId: $id, purpose: ANALYTICS}) { event { id } } }",
        lambda c, s: {"id": c},
    ),
    (
        "mutation($id: ID!, $s: ID!) { spaceInvite(input: {spaceId: $s, contactIds: [$id]}) { spaceAccesses { id } } }",
        lambda c, s: {"id": c, "s": s},
    ),
    (
        "mutation($id: ID!, $s: ID!) { usageRecord(input: {contactId: $id, spaceId: $s}) { recorded } }",
        lambda c, s: {"id": c, "s": s},
    ),
    (
        'mutation($id: ID!) { marketingEmailQueue(input: {contactIds: [$id], subject: "s", body: "b"}) { queuedCount } }',
        lambda c, s: {"id": c},
    ),
]


async def test_foreign_contact_ids_behave_as_nonexistent(api, new_tenant, owner_url):
    # given: a contact (with consent, access and history) in tenant A
    a = await new_tenant("A")
    b = await new_tenant("B")
    (cid,) = await make_contacts(
        owner_url, a.tenant_id, 1, consents=("analytics", "marketing_email")
    )
    (a_space,) = await make_spaces(owner_url, a.tenant_id, 1)
    await make_access(owner_url, a.tenant_id, a_space, [cid])
    (b_space,) = await make_spaces(owner_url, b.tenant_id, 1)
    foreign = encode_id("Contact", cid)
    missing = encode_id("Contact", uuid.uuid4())
    space = encode_id("Space", b_space)
    owner_b = api(b.token)
    # when / then: every entry point answers the foreign ID exactly like a missing one
    for query, variables in FOREIGN_CHECKS:
        got_foreign = await owner_b(query, variables(foreign, space))
        got_missing = await owner_b(query, variables(missing, space))
        assert error_codes(got_foreign) == ["NOT_FOUND"], (query, got_foreign)
        assert got_foreign["errors"][0]["message"] == got_missing["errors"][0]["message"]
        assert got_foreign.get("data") == got_missing.get("data")
    # the records around the contact are foreign too
    async with owner_db(owner_url, a.tenant_id) as db:
        access = await db.scalar(select(SpaceAccess.id))
        consent = await db.scalar(select(ConsentEvent.id))
    for type_name, raw in (("SpaceAccess", access), ("ConsentEvent", consent)):
        got_foreign = await owner_b(NODE, {"id": encode_id(type_name, raw)})
        got_missing = await owner_b(NODE, {"id": encode_id(type_name, uuid.uuid4())})
        assert error_codes(got_foreign) == error_codes(got_missing) == ["NOT_FOUND"]
    revoke = "mutation($id: ID!) { spaceAccessRevoke(id: $id) { spaceAccess { state } } }"
    assert error_codes(await owner_b(revoke, {"id": encode_id("SpaceAccess", access)})) == [
        "NOT_FOUND"
    ]
    # ...and tenant B's lists do not contain it
    listing = await owner_b(
        "{ contacts { totalCount } spaces { edges { node { contacts { totalCount } } } } }"
    )
    assert listing["data"]["contacts"]["totalCount"] == 0
    assert listing["data"]["spaces"]["edges"][0]["node"]["contacts"]["totalCount"] == 0
    # tenant A still sees its contact, untouched
    mine = await api(a.token)(
        "query($id: ID!) { contact(id: $id) { consents { purpose state } } }", {"id": foreign}
    )
    states = {c["purpose"]: c["state"] for c in mine["data"]["contact"]["consents"]}
    assert states["ANALYTICS"] == "GRANTED"


LIST_DEEP = """
query($n: Int!) {
  contacts(first: $n) {
    totalCount
    edges { node {
      email fullName
      consents { purpose state changedAt }
      spaces { totalCount edges { node { state space { title } } } }
    } }
  }
}"""


async def _count_statements(app_engine, call) -> tuple[int, dict]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(app_engine.sync_engine, "before_cursor_execute", record)
    try:
        result = await call()
    finally:
        event.remove(app_engine.sync_engine, "before_cursor_execute", record)
    return len(statements), result


@pytest.mark.big_queries
async def test_listing_contacts_costs_the_same_statements_for_5_or_100(
    api, new_tenant, owner_url, app_engine
):
    counts = {}
    for n in (5, 100):
        t = await new_tenant()
        ids = await make_contacts(
            owner_url, t.tenant_id, n, consents=("marketing_email", "analytics")
        )
        spaces = await make_spaces(owner_url, t.tenant_id, 2)
        for sid in spaces:
            await make_access(owner_url, t.tenant_id, sid, ids)
        owner = api(t.token)
        counts[n], result = await _count_statements(
            app_engine, lambda owner=owner, n=n: owner(LIST_DEEP, {"n": n})
        )
        edges = result["data"]["contacts"]["edges"]
        assert len(edges) == n
        assert all(e["node"]["spaces"]["totalCount"] == 2 for e in edges)
        assert all(len(e["node"]["consents"]) == 4 for e in edges)
    assert counts[5] == counts[100], counts
    print(f"statements: {counts}")


async def test_deleting_a_contact_takes_its_records_with_it(api, new_tenant, owner_url):
    # given: a contact with consent, access, queued e-mail and usage events
    from core.db import owner_db
    from models import ConsentEvent, OutboxMessage, SpaceAccess, UsageEvent

    t = await new_tenant()
    owner = api(t.token)
    (cid,) = await make_contacts(owner_url, t.tenant_id, 1, consents=("analytics",))
    (sid,) = await make_spaces(owner_url, t.tenant_id, 1)
    contact, space = encode_id("Contact", cid), encode_id("Space", sid)
    await owner(
        "mutation($s: ID!, $c: ID!) { spaceInvite(input: {spaceId: $s, contactIds: [$c]}) { userErrors { code } } }",
        {"s": space, "c": contact},
    )
    await owner(
        "mutation($s: ID!, $c: ID!) { usageRecord(input: {contactId: $c, spaceId: $s}) { recorded } }",
        {"s": space, "c": contact},
    )
    # when: a member deletes it (the ledger is append-only for the app role; the cascade is not)
    result = await owner(
        "mutation($id: ID!) { contactDelete(id: $id) { deletedContactId } }", {"id": contact}
    )
    # then
    assert result["data"]["contactDelete"]["deletedContactId"] == contact
    async with owner_db(owner_url, t.tenant_id) as db:
        from sqlalchemy import select

        for model in (ConsentEvent, OutboxMessage, SpaceAccess, UsageEvent):
            assert list(await db.scalars(select(model))) == [], model.__name__
