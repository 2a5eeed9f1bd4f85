"""Differential tests: the compiled read path and the resolver path give one answer.

Every query of the test suite (collected from the test modules) and a few thousand queries
generated from the schema by hypothesis-graphql run through both paths, as an owner, a
viewer, an editor, a privacy officer, a partner key with contact scopes, a widget key, a
preview link (of a draft) and a subject. `data`, `errors`, `extensions` (the redaction report) and the audit entries must be
identical. Queries the compiler does not support are counted, and the share compiled is
printed and held to a floor.

Over 300 lines on purpose: one module per promise, with its matrix and its cases together.
"""

from __future__ import annotations

import ast
import hashlib
import json
import random
import uuid
from pathlib import Path
from typing import Any, ClassVar

import pytest
from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    IntValueNode,
    OperationDefinitionNode,
    StringValueNode,
    VariableNode,
    parse,
    print_ast,
    print_schema,
    visit,
)
from graphql.language import REMOVE, Visitor
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis_graphql import queries

from core.audit import AuditBuffer
from core.ids import encode_id
from microspace.lane.lane import FastLane
from tests.factories import (
    make_access,
    make_contacts,
    make_full_contact,
    make_key,
    make_spaces,
    publish,
)

HERE = Path(__file__).resolve().parent
GENERATED = 3_300  # drawn; duplicates are dropped, at least 2,000 must remain
ROOTS = ["space", "spaces", "block", "contact", "contacts"]
# principals that run trusted documents only: the drawn queries are registered for them
TRUSTING = ("widget", "preview")
PRINCIPALS = (
    "owner",
    "viewer",
    "editor",
    "privacy_officer",
    "partner",
    "widget",
    "preview",
    "subject",
)


def suite_queries() -> list[str]:
    """Every query document written as a string constant in the test modules."""
    found: dict[str, None] = {}
    for path in sorted(HERE.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            text = node.value.strip()
            if not text.startswith(("query", "{")):
                continue
            try:
                document = parse(text)
            except Exception:  # noqa: BLE001, S112 - not GraphQL (or deliberately broken)
                continue
            ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(ops) == 1 and ops[0].operation.value == "query":
                found[text] = None
    return list(found)


def _email() -> str:
    return f"owner-{uuid.uuid4().hex[:8]}@example.com"


class World:
    """One tenant's data and a token per principal; a second tenant that must stay unseen."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, list[str]] = {}


@pytest.fixture(scope="module")
async def world(app, database_url) -> World:
    import httpx

    from microspace.commands.tenants import create_member, create_tenant
    from tests.conftest import Api

    owner_url = database_url
    w = World()
    tenant = await create_tenant(owner_url, f"Differential {uuid.uuid4().hex[:6]}", _email())
    other = await create_tenant(owner_url, f"Elsewhere {uuid.uuid4().hex[:6]}", _email())
    tid = tenant.tenant_id
    spaces = await make_spaces(owner_url, tid, 4, blocks_each=3)
    spaces += await make_spaces(owner_url, tid, 1, blocks_each=2, status="published")
    contacts = await make_contacts(owner_url, tid, 3, full_name="Ann  Marie de la Cruz")
    contacts.append(await make_full_contact(owner_url, tid))
    await make_access(owner_url, tid, spaces[0], contacts[:3])
    await make_access(owner_url, tid, spaces[1], contacts[1:2])
    await make_spaces(owner_url, other.tenant_id, 2, blocks_each=2)
    await make_contacts(owner_url, other.tenant_id, 2)
    for role in ("viewer", "editor", "privacy_officer"):
        member = await create_member(
            owner_url, str(tid), f"{role}-{uuid.uuid4().hex[:8]}@example.com", role
        )
        w.tokens[role] = member.token
    w.tokens["owner"] = tenant.token
    w.tokens["partner"] = await make_key(owner_url, tid, "partner", ["contacts:read"])
    w.tokens["widget"] = await make_key(owner_url, tid, "widget", [])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        link = await Api(client, tenant.token)(
            "mutation($c: ID!) { subjectLinkCreate(contactId: $c) { token } }",
            {"c": encode_id("Contact", contacts[0])},
        )
        preview = await Api(client, tenant.token)(
            "mutation($s: ID!) { previewLinkCreate(input: {spaceId: $s}) { secret } }",
            {"s": encode_id("Space", spaces[0])},
        )
    w.tokens["subject"] = link["data"]["subjectLinkCreate"]["token"]
    w.tokens["preview"] = preview["data"]["previewLinkCreate"]["secret"]
    from sqlalchemy import select, update

    from core.db import owner_db
    from models import Block, Member, Space

    async with owner_db(owner_url, tid) as db:
        blocks = list(await db.scalars(select(Block.id)))
        # merge fields, filled in per reader on both paths: a space personalised for the
        # full contact (named and masked by role), a published one (fallbacks for a widget)
        await db.execute(
            update(Space)
            .where(Space.id == spaces[0])
            .values(contact_id=contacts[3], member_id=tenant.member_id)
        )
        await db.execute(update(Member).values(full_name="Sam  Advisor"))
        merged = {
            "text": "Hi {{contact.firstName | there}} ({{contact.fullName}}) of "
            "{{contact.company|your firm}}, {{member.fullName | us}}",
            "level": 2,
        }
        await db.execute(
            update(Block)
            .where(Block.space_id.in_([spaces[0], spaces[4]]), Block.position == 0)
            .values(body=merged)
        )
        # content locales (docs/content.md): some blocks in German, some in Austrian German
        # with a merge field
        for index, row in enumerate(await db.scalars(select(Block).order_by(Block.id))):
            if index % 2 == 0:
                row.bodies = {"de": {"text": f"Abschnitt {index}", "level": 3}}
            if index % 4 == 0:
                row.bodies = {
                    **row.bodies,
                    "de-AT": {"text": f"Teil {index} für {{{{contact.firstName | dich}}}}"},
                }
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        result = await Api(client, tenant.token)(
            'mutation { contentLocalesUpdate(input: {locales: ["en", "de", "de-AT", "fr"], '
            'defaultLocale: "en"}) { userErrors { code } } }'
        )
        assert result["data"]["contentLocalesUpdate"]["userErrors"] == []
    # the published space again: its revision holds every locale (widgets read it)
    await publish(owner_url, tid, spaces[4])
    w.ids = {
        "Space": [encode_id("Space", s) for s in spaces],
        "Block": [encode_id("Block", b) for b in blocks],
        "Contact": [encode_id("Contact", c) for c in contacts],
    }
    return w


@pytest.fixture(scope="module")
def audits(app):
    """Every audit flush's entries, in order (both paths write them the same way)."""
    seen: list[list[dict[str, Any]]] = []
    original = AuditBuffer.flush

    async def flush(self: AuditBuffer, db: Any) -> None:
        seen.append(self.grouped())
        await original(self, db)

    # the fast lane (microspace/lane/lane.py) appends its entries in a statement of its own
    original_lane = FastLane._audit

    async def lane_audit(self: FastLane, *args: Any) -> bool:
        appended = await original_lane(self, *args)
        if appended:
            seen.append(json.loads(args[-1]))
        return appended

    AuditBuffer.flush = flush  # type: ignore[method-assign]
    FastLane._audit = lane_audit  # type: ignore[method-assign]
    yield seen
    AuditBuffer.flush = original  # type: ignore[method-assign]
    FastLane._audit = original_lane  # type: ignore[method-assign]


def _normal_audit(entries: list[list[dict[str, Any]]]) -> list[Any]:
    """Per flush: which fields of which subject were read (or changed). Field order inside
    an entry is first-seen order; a contact reached along two paths may be seen in another
    order by each path, so order is not compared."""
    out = []
    for batch in entries:
        if not batch:
            continue  # an empty flush writes nothing
        reads: dict[tuple[str, str], set[str]] = {}
        for entry in batch:
            for subject in entry["subjects"] or [""]:
                reads.setdefault((entry["operation"], subject), set()).update(entry["fields"])
        out.append(sorted((k, sorted(v)) for k, v in reads.items()))
    return out


class Differ:
    def __init__(self, app, api, audits) -> None:
        self.reads = app.state.compiled_reads
        self.api = api
        self.audits = audits
        self.compiled = 0
        self.total = 0
        self.executed = 0
        # queries left to the resolver path whose two runs differed (printed)
        self.resolver_races = 0

    async def trust(self, owner: str, query: str) -> None:
        """Register `query` as a trusted document of the tenant (a widget's own documents),
        so a preview link runs it on both paths rather than being refused before either."""
        register = """mutation($d: String!) { persistedDocumentRegister(input: {document: $d})
          { userErrors { code } } }"""
        await self.api(owner).post(register, {"d": query})

    async def check(self, token: str, query: str, variables: dict[str, Any] | None) -> bool:
        """Run both paths; assert one answer; True if the compiled path answered."""
        self.reads.enabled = True
        before, mark = self.reads.compiled, len(self.audits)
        tried = self.reads.compiled + self.reads.fallbacks
        fast = await self.api(token).post(query, variables)
        compiled = self.reads.compiled > before
        # refused before execution (a widget key or a subject may only send trusted documents):
        # neither path runs, so it counts for neither
        self.executed += self.reads.compiled + self.reads.fallbacks > tried
        fast_audit = self.audits[mark:]
        self.reads.enabled = False
        mark = len(self.audits)
        try:
            slow = await self.api(token).post(query, variables)
        finally:
            self.reads.enabled = True
        slow_audit = self.audits[mark:]
        if not compiled:
            # both answers came from the resolver path: nothing to hold apart (and it has
            # answers that change by themselves: `now()` defaults, a race between a failing
            # field and its cancelled sibling); counted as not compiled
            self.resolver_races += fast.text != slow.text
            self.total += 1
            return False
        assert fast.status_code == slow.status_code, query
        a, b = fast.json(), slow.json()
        # byte for byte: an answer's ETag must not depend on the path (docs/caching.md)
        assert fast.content == slow.content, (query, variables, fast.content, slow.content)
        assert a.get("data") == b.get("data"), (query, variables)
        assert _errors(a) == _errors(b), (query, variables)
        assert a.get("extensions") == b.get("extensions"), (query, variables)
        assert _normal_audit(fast_audit) == _normal_audit(slow_audit), (query, variables)
        self.total += 1
        self.compiled += compiled
        return compiled


def _errors(result: dict[str, Any]) -> list[Any]:
    """Errors as compared: a masked internal error names its own request id."""
    out = []
    for error in result.get("errors") or []:
        if (error.get("extensions") or {}).get("code") == "INTERNAL_SERVER_ERROR":
            error = {"path": error.get("path"), "code": "INTERNAL_SERVER_ERROR"}
        out.append(error)
    return out


def fill_variables(document: DocumentNode, ids: dict[str, list[str]]) -> dict[str, Any]:
    """Real values for a suite query's variables, by the root field that uses them."""
    values: dict[str, Any] = {}
    by_root = {"space": "Space", "block": "Block", "contact": "Contact", "node": "Space"}
    by_root |= {"spaceAnalytics": "Space", "auditLog": "Contact"}
    op = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    for selection in op.selection_set.selections:
        for arg in getattr(selection, "arguments", None) or ():
            if isinstance(arg.value, VariableNode):
                kind = by_root.get(selection.name.value)
                name = arg.value.name.value
                if arg.name.value in ("id", "spaceId", "subjectId") and kind:
                    values[name] = ids[kind][0]
                elif arg.name.value == "id":
                    values[name] = encode_id("SubjectRequest", uuid.uuid4())
                elif arg.name.value in ("first", "n"):
                    values[name] = 3
    for definition in op.variable_definitions or ():
        name = definition.variable.name.value
        if name not in values and str(definition.type).startswith("Int"):
            values[name] = 3
    return values


async def test_suite_queries_answer_alike_on_both_paths(app, api, world, audits):
    differ = Differ(app, api, audits)
    found = suite_queries()
    assert len(found) >= 50, "the collector lost the suite's queries"
    for text in found:
        variables = fill_variables(parse(text), world.ids)
        await differ.trust(world.tokens["owner"], text)
        for principal in PRINCIPALS:
            await differ.check(world.tokens[principal], text, variables)
    print(
        f"\nsuite queries: {len(found)} x {len(PRINCIPALS)} principals, "
        f"{differ.compiled}/{differ.total} compiled"
    )
    # a check that the compiled path did not answer compares nothing: count the comparisons
    # (668 of 1,183 seen; the floor leaves room for queries the planner gives up)
    assert differ.compiled >= 500, differ.compiled


# requested locales: the tenant's, their neighbours, one it lacks, one malformed
LOCALES = ["de", "de-AT", "de-CH", "DE-at", "fr", "en", "en-GB", "it", "de-AT-1996"]


class _Realistic(Visitor):
    """Root fields by ID name a row of the tenant, and page arguments pass most of the time
    (a random `after` is an invalid cursor, a random `search` leaves the compiled path:
    each is kept one time in ten); a `locale` is one a visitor's browser may send (a random
    one is malformed: INVALID_LOCALE, the resolvers' answer, tests/test_locales.py)."""

    KINDS: ClassVar[dict[str, str]] = {"space": "Space", "block": "Block", "contact": "Contact"}

    def __init__(self, ids: dict[str, list[str]], rng: random.Random) -> None:
        super().__init__()
        self.ids = ids
        self.rng = rng

    def enter_argument(
        self, node: ArgumentNode, _key: Any, _parent: Any, _path: Any, ancestors: Any
    ) -> Any:
        name = node.name.value
        fields = [a for a in ancestors if isinstance(a, FieldNode)]
        if name == "id" and len(fields) == 1 and fields[0].name.value in self.KINDS:
            kind = self.KINDS[fields[0].name.value]
            value = StringValueNode(value=self.rng.choice(self.ids[kind]))
            return ArgumentNode(name=node.name, value=value)
        if name == "first" and isinstance(node.value, IntValueNode):
            value = IntValueNode(value=str(abs(int(node.value.value)) % 25))
            return ArgumentNode(name=node.name, value=value)
        if name in ("after", "search") and self.rng.random() < 0.9:
            return REMOVE
        if name == "locale":
            value = StringValueNode(value=self.rng.choice(LOCALES))
            return ArgumentNode(name=node.name, value=value)
        return None


# the draws, kept: drawing them costs about 15 s of CPU a run, and the floors below hold
# this corpus. Drawn again (and the file rewritten) when the schema or the draw changes.
CORPUS = Path(__file__).with_name("corpus") / "generated_queries.json"


def _corpus_key(schema) -> str:
    text = f"{print_schema(schema)}|{GENERATED}|{','.join(ROOTS)}"
    return hashlib.sha256(text.encode()).hexdigest()


def drawn_queries(schema) -> list[str]:
    key = _corpus_key(schema)
    if CORPUS.exists():
        kept = json.loads(CORPUS.read_text())
        if kept.get("key") == key:
            return list(kept["documents"])
    drawn = draw_queries(schema)
    CORPUS.parent.mkdir(exist_ok=True)
    CORPUS.write_text(json.dumps({"key": key, "documents": drawn}, indent=0) + "\n")
    return drawn


def draw_queries(schema) -> list[str]:
    drawn: list[str] = []

    # derandomised: the same draws every run (and on every worker), so a failure reproduces
    # and the floors below hold the same corpus, not a lucky one
    @settings(
        max_examples=GENERATED,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(queries(schema, fields=ROOTS, print_ast=lambda d: d))
    def draw(document: DocumentNode) -> None:
        drawn.append(print_ast(document))

    draw()
    return drawn


def generated_queries(app, ids: dict[str, list[str]]) -> list[str]:
    drawn = drawn_queries(app.state.compiled_reads.schema)
    rng = random.Random(10)
    out: dict[str, None] = {}
    for text in drawn:
        document = parse(text)
        if rng.random() < 0.95:
            document = visit(document, _Realistic(ids, rng))
        out[print_ast(document)] = None
    return list(out)


async def test_generated_queries_answer_alike_on_both_paths(app, api, world, audits):
    differ = Differ(app, api, audits)
    texts = generated_queries(app, world.ids)
    assert len(texts) >= 2_000
    mismatches = []
    by_principal: dict[str, list[bool]] = {}
    for index, text in enumerate(texts):
        principal = PRINCIPALS[index % len(PRINCIPALS)]
        if principal in TRUSTING:
            await differ.trust(world.tokens["owner"], text)
        try:
            compiled = await differ.check(world.tokens[principal], text, None)
            by_principal.setdefault(principal, []).append(compiled)
        except AssertionError as error:
            mismatches.append((principal, str(error)[:3000]))
    print(f"resolver-path answers that differed between two runs: {differ.resolver_races}")
    for principal, answers in by_principal.items():
        print(f"compiled as {principal}: {sum(answers)}/{len(answers)}")
    for principal, error in mismatches:
        print(f"\nMISMATCH as {principal}: {error}")
    assert not mismatches
    share = differ.compiled / differ.executed
    print(
        f"\ngenerated queries: {differ.total}, executed {differ.executed} (the rest refused "
        f"before execution on both paths), compiled {differ.compiled} ({share:.1%} of executed)"
    )
    print("not compiled, by cause:", app.state.compiled_reads.reasons.most_common(12))
    # a check that the compiled path did not answer compares nothing: the draws are the same
    # every run (derandomised), 2,160 queries and 1,753 comparisons seen (the widget key and
    # the preview link run theirs as trusted documents); the floor leaves room for schema
    # changes, which change the draws
    assert differ.compiled >= 1_300, differ.compiled
    # the target is 90% (issue 10); 96.7% seen: the floor leaves room. Most of the rest is a
    # root list's bad argument beside roots that wait for the database: the resolver path cancels them and answers
    # INTERNAL_SERVER_ERROR (the cancelled statement breaks the session's commit)
    assert share >= 0.90


TRICKY = [
    "",
    " ",
    "a",
    "@",
    "@example.com",
    "jane.doe@example.com",
    "a@b@c",
    "no-at-sign",
    "Jane  Q\tDoe",
    " leading and trailing ",
    "Ünïcödé Ñame",
    "名前 テスト",
    "x\u00a0y\u2003z\u3000w",
    "+44 20 7946 0958",
    "5",
    "(0) 1",
    "ß",
]


async def test_sql_masks_and_ids_match_python(owner_engine):
    """The compiler's SQL masks, IDs and timestamps give exactly what the Python code gives."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from compiler import sql
    from core.ids import encode_cursor
    from policies.redaction import MASKS, mask

    categories = [*MASKS, "user.contact.organization"]
    async with owner_engine.connect() as conn:
        for value in TRICKY:
            for category in categories:
                got = await conn.scalar(
                    text(f"SELECT {sql.mask(category, 'CAST(:v AS text)')}"), {"v": value}
                )
                assert got == mask(category, value), (category, value)
        for type_name in ("Space", "Block", "Contact", "SpaceAccess", "ConsentEvent", "X"):
            for _ in range(20):
                id_ = uuid.uuid4()
                got = await conn.scalar(
                    text(f"SELECT {sql.global_id(type_name, 'CAST(:v AS uuid)')}"), {"v": id_}
                )
                assert got == encode_id(type_name, id_)
        for moment in (
            datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC),
        ):
            got = await conn.scalar(
                text(f"SELECT {sql.iso('CAST(:v AS timestamptz)')}"), {"v": moment}
            )
            assert got == moment.isoformat()
            id_ = uuid.uuid4()
            cursor = sql.cursor(
                [("datetime", "CAST(:v AS timestamptz)"), ("uuid", "CAST(:i AS uuid)")]
            )
            got = await conn.scalar(text(f"SELECT {cursor}"), {"v": moment, "i": id_})
            assert got == encode_cursor([moment.isoformat(), str(id_)])
