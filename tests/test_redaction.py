"""Field-level redaction of personal data, decided by policy, through HTTP.

Invariants:
- every field backed by a personal-data column carries `@personalData` and the redaction
  extension (schema walk), and every personal column names a fideslang category;
- for every role and partner scope, a widget key, a preview link and a visitor session (the
  contact's own),
  each personal field comes back in full, masked or null exactly as the default policy says,
  and `extensions.redactions` lists exactly the nulls;
- a visitor session of another contact, like a widget key or a preview link, reads nothing of
  the contact;
- searching needs full `read` on what it matches: no oracle on masked or withheld fields;
- mutation payloads are redacted like reads;
- a tenant's policy override takes effect on its next request, and only in that tenant;
- Casbin calls per request do not grow with the number of rows.

Over 300 lines on purpose: one module per promise, with its matrix and its cases together.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import strawberry
from graphql import GraphQLNonNull
from sqlalchemy import select, text

from core.ids import encode_id
from models import Contact as ContactModel
from models import Role
from models.pii import personal_columns, validate_categories
from policies.authz import load_enforcer, read_policy_rows
from policies.redaction import mask
from schema.build import build_schema
from schema.personal_data import PersonalData, Redact, backed_by
from tests.conftest import error_codes
from tests.factories import make_contacts, make_full_contact, mint_key
from tests.widgets import PersistedApi, open_visitor

# every test here runs on both read paths (compiled SQL and resolvers)
pytestmark = pytest.mark.usefixtures("read_path")

ENFORCER = load_enforcer()
SCOPES = sorted({row[1] for row in read_policy_rows() if row[0] == "p" and ":" in row[1]})
PRINCIPALS = (
    [("member", r.value) for r in Role]
    + [("partner", s) for s in SCOPES]
    + [("widget", "widget"), ("visitor", "visitor"), ("preview", "preview")]
)

# how the matrix reaches each type that has personal fields; a new type must be added here
QUERY = """query($id: ID!) { contact(id: $id) { email fullName company jobTitle phone locale
  consents { purpose state granted changedAt source policyVersion }
  consentHistory { edges { node { action evidence occurredAt source policyVersion } } }
  spaces { edges { node { acceptedAt } } } } }"""
REQUESTS_QUERY = """{ subjectRequests { edges { node { kind subjectEmail extensionReason rejectionReason
    trail { toState note } } } } }"""
QUERIES = {"contact": QUERY, "subjectRequests": REQUESTS_QUERY}
# GraphQL path prefix -> (type, field that gates it as an operation)
SECTIONS = {
    ("contact",): ("Contact", ("Contact", "read")),
    ("contact", "consents"): ("Consent", ("Consent", "read")),
    ("contact", "consentHistory"): ("ConsentEvent", ("Consent", "read")),
    ("contact", "spaces"): ("SpaceAccess", ("SpaceAccess", "read")),
    ("subjectRequests",): ("SubjectRequest", ("SubjectRequest", "read")),
    ("subjectRequests", "trail"): ("SubjectRequestEvent", ("SubjectRequest", "read")),
}


def personal_fields(schema: strawberry.Schema) -> dict[str, dict[str, str]]:
    """type name -> {GraphQL field name: category} for every field with the Redact extension."""
    out: dict[str, dict[str, str]] = {}
    for name, entry in schema.schema_converter.type_map.items():
        definition = getattr(entry, "definition", None)
        for field in getattr(definition, "fields", []) or []:
            for ext in field.extensions:
                if isinstance(ext, Redact):
                    graphql_name = schema.config.name_converter.get_graphql_name(field)
                    out.setdefault(name, {})[graphql_name] = ext.category
    return out


def unguarded_fields(schema: strawberry.Schema) -> list[str]:
    """Fields of model-backed types named after a personal column but lacking the guard."""
    problems = []
    for name, entry in schema.schema_converter.type_map.items():
        definition = getattr(entry, "definition", None)
        model = getattr(getattr(definition, "origin", None), "__backed_by__", None)
        if model is None:
            continue
        personal = {c.name: c.info["pii"] for c in model.__table__.columns if "pii" in c.info}
        columns = {c.name for c in model.__table__.columns}
        public = getattr(definition.origin, "__public_columns__", frozenset())
        for field in definition.fields:
            redacts = [e for e in field.extensions if isinstance(e, Redact)]
            directives = [d for d in field.directives if isinstance(d, PersonalData)]
            if field.python_name in personal:
                category = personal[field.python_name]
                if not redacts or not directives or directives[0].category != category:
                    problems.append(f"{name}.{field.python_name}")
            elif (
                # a column the personal-data map does not name: classified by a guard with
                # its category, or declared public on the type; unclassified fails
                field.python_name in columns
                and field.python_name not in {"id", *public}
                and (not redacts or not directives)
            ):
                problems.append(f"{name}.{field.python_name}")
    return problems


SCHEMA = build_schema()


def test_every_personal_field_is_guarded():
    assert unguarded_fields(SCHEMA) == []
    validate_categories()
    assert personal_columns(), "the personal-data map is empty"
    # attribute fields run the extension's decision as a lean resolver (compile_redaction)
    for type_name, fields in personal_fields(SCHEMA).items():
        for field in fields:
            resolve = SCHEMA._schema.type_map[type_name].fields[field].resolve
            assert resolve is not None and "Redact.compiled" in resolve.__qualname__, (
                type_name,
                field,
            )
    # personal fields are nullable: redaction may return null
    graphql_schema = SCHEMA._schema
    for type_name, fields in personal_fields(SCHEMA).items():
        for field in fields:
            assert not isinstance(
                graphql_schema.type_map[type_name].fields[field].type, GraphQLNonNull
            )


@backed_by(ContactModel)
@strawberry.type
class LeakyContact:
    """Deliberately unguarded: exposes personal columns without the redaction extension."""

    email: str | None
    full_name: str | None


@strawberry.type
class LeakyQuery:
    leaky: LeakyContact | None = None


def test_schema_walk_catches_an_unguarded_field():
    """The walk fails on a deliberately leaky type: a personal column exposed without the guard."""
    leaky_schema = strawberry.Schema(query=LeakyQuery)
    assert unguarded_fields(leaky_schema) == ["LeakyContact.email", "LeakyContact.full_name"]


def test_matrix_covers_every_personal_field():
    covered = {SECTIONS[k][0] for k in SECTIONS}
    assert covered == set(personal_fields(SCHEMA)), "add the new type to QUERY/SECTIONS"


def _decision(subject: str, tenant: str, obj: str) -> str:
    if ENFORCER.enforce(subject, tenant, obj, "read"):
        return "read"
    if ENFORCER.enforce(subject, tenant, obj, "read_masked"):
        return "read_masked"
    return "none"


def _walk(node: Any, path: list[Any]):
    """(path, value) of every leaf under node, paths as in GraphQL responses."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _walk(v, [*path, k])
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, [*path, i])
    else:
        yield path, node


def _section(path: list[Any]) -> tuple[str, ...]:
    names = tuple(p for p in path if isinstance(p, str) and p not in ("edges", "node"))
    for size in (2, 1):
        if names[:size] in SECTIONS and (size == 1 or len(names) > size):
            return names[:size]
    raise AssertionError(path)


def expected(owner_data: dict, subject: str, tenant: str) -> tuple[dict, list[list[Any]], set]:
    """What `subject` must see, given what the owner (who reads everything) sees."""
    fields = personal_fields(SCHEMA)
    want: dict[tuple, Any] = {}
    redacted: list[list[Any]] = []
    forbidden: set = set()
    for path, value in _walk(owner_data, []):
        section = _section(path)
        type_name, (op_obj, op_act) = SECTIONS[section]
        if not ENFORCER.enforce(subject, tenant, op_obj, op_act):
            forbidden.add(section)
            continue
        field = path[-1]
        if field not in fields.get(type_name, {}):
            want[tuple(path)] = value
            continue
        decision = _decision(subject, tenant, f"{type_name}.{field}")
        masked = mask(fields[type_name][field], value) if decision == "read_masked" else None
        if decision == "read":
            want[tuple(path)] = value
        elif decision == "read_masked" and (masked is not None or value is None):
            want[tuple(path)] = masked
        else:
            want[tuple(path)] = None
            redacted.append(path)
    return want, redacted, forbidden


async def _token(kind: str, subject: str, tenant, new_member, api, client, settings, pk) -> Any:
    """A bound client for: a member's token, a key issued through apiKeyCreate by the
    tenant's owner, or the visitor session contact `pk` opens from their invitation link
    (widgets and visitors send trusted documents by hash)."""
    if kind == "member":
        return api((await new_member(tenant.tenant_id, subject)).token)
    if kind == "visitor":
        space = await _accepted_space(settings.owner_url(), tenant.tenant_id, pk)
        session = await open_visitor(client, settings.secret(), tenant.tenant_id, space, pk)
        return PersistedApi(client, session["visitorToken"], api(tenant.token))
    if kind == "preview":
        space = await _accepted_space(settings.owner_url(), tenant.tenant_id, pk)
        made = await api(tenant.token)(
            "mutation($s: ID!) { previewLinkCreate(input: {spaceId: $s}) { secret } }",
            {"s": encode_id("Space", space)},
        )
        secret = made["data"]["previewLinkCreate"]["secret"]
        return PersistedApi(client, secret, api(tenant.token))
    key = await mint_key(api(tenant.token), kind, [subject] if kind == "partner" else [])
    return PersistedApi(client, key, api(tenant.token)) if kind == "widget" else api(key)


async def _accepted_space(owner_url, tenant_id, contact_id) -> uuid.UUID:
    from core.db import owner_db
    from models import SpaceAccess

    async with owner_db(owner_url, tenant_id) as db:
        return await db.scalar(
            select(SpaceAccess.space_id).where(SpaceAccess.contact_id == contact_id)
        )


async def _seed_request(owner_url, tenant_id, contact_id) -> None:
    """A completed access request of the contact, with a member's attestation in its trail."""
    from core.db import owner_db
    from models import SubjectRequest, SubjectRequestEvent

    rid = uuid.uuid4()
    async with owner_db(owner_url, tenant_id) as db:
        email = await db.scalar(text("SELECT email FROM contacts WHERE id = :c"), {"c": contact_id})
        db.add(
            SubjectRequest(
                id=rid,
                kind="access",
                subject_email=email,
                subject_hash=b"h",
                contact_ids=[contact_id],
                state="verified",
                due_at=datetime.now(UTC),
                created_by_kind="member",
                progress=[],
            )
        )
        await db.flush()
        db.add(
            SubjectRequestEvent(
                id=uuid.uuid4(),
                request_id=rid,
                to_state="verified",
                actor_kind="member",
                note="Checked Jane's passport",
            )
        )


@pytest.mark.parametrize(("kind", "subject"), PRINCIPALS)
async def test_redaction_matrix(
    api, client, settings, new_tenant, new_member, owner_url, kind, subject
):
    # given a contact with every personal field set (and a request about them), as the
    # owner sees them
    tenant = await new_tenant()
    pk = await make_full_contact(owner_url, tenant.tenant_id)
    await _seed_request(owner_url, tenant.tenant_id, pk)
    variables = {"id": encode_id("Contact", pk)}
    caller = await _token(kind, subject, tenant, new_member, api, client, settings, pk)
    casbin_subject = subject
    for root, query in QUERIES.items():
        owner = await api(tenant.token)(query, variables if "$id" in query else None)
        assert "errors" not in owner and "extensions" not in owner, owner

        # when the principal reads the same
        result = await caller(query, variables if "$id" in query else None)

        # then every field is value, mask or null as the policy says
        want, redacted, forbidden = expected(owner["data"], casbin_subject, str(tenant.tenant_id))
        if (root,) in forbidden:
            # a nullable lookup (`contact`) answers null at its path; a list, no data at all
            assert error_codes(result) == ["FORBIDDEN"]
            assert result["data"] is None or result["data"] == {root: None}, result
            continue
        got = {tuple(p): v for p, v in _walk(result["data"], [])}
        for path, value in want.items():
            assert got.get(path, "<missing>") == value, (path, subject)
        assert sorted(
            r["path"] for r in result.get("extensions", {}).get("redactions", [])
        ) == sorted(redacted)
        for entry in result.get("extensions", {}).get("redactions", []):
            assert entry["reason"] and entry["category"]
        forbidden_paths = sorted(e["path"][:2] for e in result.get("errors", []))
        assert forbidden_paths == sorted([root, s[1]] for s in forbidden)
        assert set(error_codes(result)) <= {"FORBIDDEN"}


def test_masks():
    assert mask("user.contact.email", "jane.doe@example.com") == "j***@example.com"
    assert mask("user.name", "Jane Doe") == "J*** D***"
    assert mask("user.contact.phone_number", "+44 20 7946 0958") == "***58"


async def test_visitor_of_another_contact_reads_nothing_of_them(
    api, client, settings, new_tenant, owner_url
):
    tenant = await new_tenant()
    jane = await make_full_contact(owner_url, tenant.tenant_id)
    other = await make_full_contact(owner_url, tenant.tenant_id)
    space = await _accepted_space(owner_url, tenant.tenant_id, other)
    session = await open_visitor(client, settings.secret(), tenant.tenant_id, space, other)
    visitor = PersistedApi(client, session["visitorToken"], api(tenant.token))
    on_jane = await visitor(QUERY, {"id": encode_id("Contact", jane)})
    on_random = await visitor(QUERY, {"id": encode_id("Contact", uuid.uuid4())})
    # `contact` is a nullable lookup: null at its path, like an ID that never existed
    assert error_codes(on_jane) == ["NOT_FOUND"] and on_jane["data"] == {"contact": None}
    assert on_jane["errors"][0]["message"] == on_random["errors"][0]["message"]
    assert "extensions" not in on_jane
    listed = await visitor(REQUESTS_QUERY)
    assert error_codes(listed) == ["FORBIDDEN"]


async def test_default_policy_examples(api, client, new_tenant, new_member, owner_url):
    """The issue's examples, spelled out: editor, viewer and partner scopes."""
    tenant = await new_tenant()
    cid = encode_id("Contact", await make_full_contact(owner_url, tenant.tenant_id))
    q = "query($id: ID!) { contact(id: $id) { email fullName company jobTitle phone } }"
    editor = (await api((await new_member(tenant.tenant_id, "editor")).token)(q, {"id": cid}))[
        "data"
    ]["contact"]
    assert editor["fullName"] == "Jane Doe" and editor["company"] == "Initech"
    assert (
        editor["email"].startswith("j***@")
        and editor["phone"] == "***58"
        and editor["jobTitle"] is None
    )
    viewer = (await api((await new_member(tenant.tenant_id, "viewer")).token)(q, {"id": cid}))[
        "data"
    ]["contact"]
    assert viewer == {
        "email": None,
        "fullName": "Jane Doe",
        "company": None,
        "jobTitle": None,
        "phone": None,
    }
    masked = (
        await api(await mint_key(api(tenant.token), "partner", ["contacts:read"]))(q, {"id": cid})
    )["data"]["contact"]
    assert masked["fullName"] == "J*** D***" and masked["email"].startswith("j***@")
    full = (
        await api(await mint_key(api(tenant.token), "partner", ["contacts:read_pii"]))(
            q, {"id": cid}
        )
    )["data"]["contact"]
    assert full["email"].startswith("jane.doe-") and full["phone"] == "+44 20 7946 0958"
    widget_key = await mint_key(api(tenant.token), "widget", [])
    widget = await PersistedApi(client, widget_key, api(tenant.token))(q, {"id": cid})
    assert error_codes(widget) == ["FORBIDDEN"]


SEARCH = "query($s: String) { contacts(search: $s) { totalCount edges { node { fullName } } } }"


async def test_search_is_no_oracle(api, new_tenant, new_member, owner_url):
    tenant = await new_tenant()
    await make_full_contact(owner_url, tenant.tenant_id)
    viewer = api((await new_member(tenant.tenant_id, "viewer")).token)
    owner = api(tenant.token)
    # the owner finds Jane by e-mail; a viewer, who may not read e-mail, cannot
    assert (await owner(SEARCH, {"s": "jane.doe-"}))["data"]["contacts"]["totalCount"] == 1
    assert (await viewer(SEARCH, {"s": "jane.doe-"}))["data"]["contacts"]["totalCount"] == 0
    assert (await viewer(SEARCH, {"s": "initech"}))["data"]["contacts"]["totalCount"] == 0
    # a name the viewer may read is searchable
    assert (await viewer(SEARCH, {"s": "Jane D"}))["data"]["contacts"]["totalCount"] == 1
    # a key that reads everything masked cannot search at all
    masked = api(await mint_key(api(tenant.token), "partner", ["contacts:read"]))
    assert error_codes(await masked(SEARCH, {"s": "jane"})) == ["FORBIDDEN"]


async def test_mutation_payloads_are_redacted(api, new_tenant, new_member, owner_url):
    tenant = await new_tenant()
    editor = api((await new_member(tenant.tenant_id, "editor")).token)
    create = """mutation { contactCreate(input: {email: "New.Person@Example.com", fullName: "New Person",
        phone: "+1 555 0100", jobTitle: "CFO"}) { contact { email fullName phone jobTitle } userErrors { code } } }"""
    result = await editor(create)
    contact = result["data"]["contactCreate"]["contact"]
    assert contact == {
        "email": "n***@example.com",
        "fullName": "New Person",
        "phone": "***00",
        "jobTitle": None,
    }
    assert [r["path"] for r in result["extensions"]["redactions"]] == [
        ["contactCreate", "contact", "jobTitle"]
    ]
    assert "CFO" not in str(result)


async def test_tenant_override_takes_effect_on_next_request(api, new_tenant, new_member, owner_url):
    a, b = await new_tenant("A"), await new_tenant("B")
    a_cid = encode_id("Contact", await make_full_contact(owner_url, a.tenant_id))
    b_cid = encode_id("Contact", await make_full_contact(owner_url, b.tenant_id))
    a_viewer = api((await new_member(a.tenant_id, "viewer")).token)
    b_viewer = api((await new_member(b.tenant_id, "viewer")).token)
    q = "query($id: ID!) { contact(id: $id) { email fullName } }"
    set_rule = """mutation($s: String!, $o: String!, $a: String!, $e: PolicyEffect!) {
        policyRuleSet(input: {subject: $s, object: $o, action: $a, effect: $e}) { rule { id } userErrors { code } } }"""

    # A's owner lets viewers read e-mail and denies them names
    r1 = await api(a.token)(
        set_rule, {"s": "viewer", "o": "Contact.email", "a": "read", "e": "ALLOW"}
    )
    r2 = await api(a.token)(
        set_rule, {"s": "viewer", "o": "Contact.fullName", "a": "read", "e": "DENY"}
    )
    assert (
        r1["data"]["policyRuleSet"]["userErrors"] == []
        and r2["data"]["policyRuleSet"]["userErrors"] == []
    )

    seen = (await a_viewer(q, {"id": a_cid}))["data"]["contact"]
    assert seen["email"].startswith("jane.doe-") and seen["fullName"] is None
    # B keeps the defaults
    assert (await b_viewer(q, {"id": b_cid}))["data"]["contact"] == {
        "email": None,
        "fullName": "Jane Doe",
    }

    # removing the deny restores the default for A
    rule_id = r2["data"]["policyRuleSet"]["rule"]["id"]
    await api(a.token)(
        "mutation($id: ID!) { policyRuleRemove(id: $id) { deletedRuleId } }", {"id": rule_id}
    )
    assert (await a_viewer(q, {"id": a_cid}))["data"]["contact"]["fullName"] == "Jane Doe"

    # only owners manage policies, and policies on policies are refused
    assert error_codes(
        await a_viewer(set_rule, {"s": "viewer", "o": "Contact.email", "a": "read", "e": "ALLOW"})
    ) == ["FORBIDDEN"]
    locked = await api(a.token)(set_rule, {"s": "owner", "o": "Policy", "a": "manage", "e": "DENY"})
    assert [e["code"] for e in locked["data"]["policyRuleSet"]["userErrors"]] == ["PROTECTED"]
    bad = await api(a.token)(
        set_rule, {"s": "nobody", "o": "Contact.email", "a": "read", "e": "ALLOW"}
    )
    assert [e["code"] for e in bad["data"]["policyRuleSet"]["userErrors"]] == ["UNKNOWN_SUBJECT"]


LIST = "query($n: Int) { contacts(first: $n) { edges { node { email fullName company jobTitle phone locale } } } }"


async def test_casbin_calls_do_not_grow_with_rows(
    api, app, new_tenant, new_member, owner_url, monkeypatch
):
    enforcer = app.state.microspace.enforcer
    calls: list[tuple] = []
    original = enforcer.enforce

    def counting(*args):
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(enforcer, "enforce", counting)
    for role in ("viewer", "owner"):
        counts = []
        for n in (5, 60):
            tenant = await new_tenant()
            await make_contacts(owner_url, tenant.tenant_id, n)
            token = (
                tenant.token
                if role == "owner"
                else (await new_member(tenant.tenant_id, role)).token
            )
            calls.clear()
            # cold: answers are shared across requests, and this counts a request's own asks
            app.state.microspace.tenant_policies.forget_decisions()
            app.state.compiled_reads.forget()  # plans hold decisions too
            result = await api(token)(LIST, {"n": n})
            assert len(result["data"]["contacts"]["edges"]) == n
            counts.append(len(calls))
        assert counts[0] == counts[1], (role, counts)
        assert len(set(calls)) == len(calls), "a decision was asked twice in one request"
