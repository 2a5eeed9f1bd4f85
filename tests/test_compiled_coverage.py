"""The compiled read path beyond the plain cases: denied roots (alone, nullable, beside
others), the subject principal, and every pair of root fields, compared with the resolver
path as every principal of the differential tests."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from core.ids import encode_id
from microspace.web.widget_documents import DOCUMENTS
from tests.test_compiled_reads import PRINCIPALS, Differ, audits, world  # noqa: F401


class Strict:
    """A client whose every error carries a code: a failing statement on the compiled path
    would otherwise pass for a query left to the resolver path."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        response = await self.client.post(query, variables)
        for error in response.json().get("errors") or []:
            assert (error.get("extensions") or {}).get("code"), (query, variables, error)
        return response


def strict(factory: Any) -> Any:
    return lambda token: Strict(factory(token))


NODE = """query($id: ID!) { node(id: $id) { id __typename
  ... on Space { title status blocks(first: 2) { edges { node { id content { __typename } } } } }
  ... on Block { body space { id } } ... on Contact { email fullName phone consents { purpose } } } }"""
ROOT_SELECTIONS = {
    "space": 'space(id: "$Space") { id title blocks(first: 2) { edges { node { id body } } } }',
    "spaces": "spaces(first: 3) { totalCount edges { node { id status } } }",
    "block": 'block(id: "$Block") { id kind space { id } }',
    "contact": 'contact(id: "$Contact") { id email fullName consents { purpose } }',
    "contacts": "contacts(first: 2) { edges { node { id email phone } } }",
    "typename": "__typename",
    "missing": 'space(id: "$Missing") { id }',
    "invalid": 'contact(id: "not an id") { id email }',
    "wrong_type": 'block(id: "$Space") { id }',
}


def _query(names: tuple[str, ...], ids: dict[str, list[str]]) -> str:
    parts = []
    for index, name in enumerate(names):
        text = ROOT_SELECTIONS[name]
        for kind, values in ids.items():
            text = text.replace(f"${kind}", values[0])
        text = text.replace("$Missing", encode_id("Space", uuid.UUID(int=7)))
        parts.append(f"r{index}: {text}")
    return "{ " + " ".join(parts) + " }"


async def _subject_token(owner_url, world) -> str:  # noqa: F811
    """A real subject's magic-link token (the differential world's `subject` is anonymous:
    subjectLinkCreate e-mails the token, it does not return it)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from core.auth import new_token
    from core.db import owner_db
    from core.ids import decode_id
    from models import ApiToken

    cid = decode_id(world.ids["Contact"][0], "Contact")
    engine = create_async_engine(owner_url)
    async with engine.connect() as conn:
        query = text("SELECT tenant_id FROM contacts WHERE id = :c")
        tenant_id = await conn.scalar(query, {"c": cid})
    await engine.dispose()
    token, digest = new_token("subject")
    async with owner_db(owner_url, tenant_id) as db:
        db.add(ApiToken(id=uuid.uuid4(), kind="subject", contact_id=cid, token_hash=digest))
    return token


async def test_root_combinations_answer_alike(app, api, world, audits, owner_url):  # noqa: F811
    differ = Differ(app, strict(api), audits)
    tokens = {p: world.tokens[p] for p in PRINCIPALS}
    tokens["real_subject"] = await _subject_token(owner_url, world)
    tokens["anonymous"] = None
    tokens["rejected"] = "msm_" + "x" * 40
    names = tuple(ROOT_SELECTIONS)
    combos = [(n,) for n in names] + list(itertools.permutations(names[:5], 2))
    combos += list(itertools.permutations(("space", "spaces", "contact"), 3))
    combos += [(n,) for n in names[6:]] + [(n, "space") for n in names[6:]]
    combos += [("missing", "invalid", "wrong_type", "spaces"), ("contacts", "invalid", "typename")]
    by_principal: dict[str, int] = {}
    for combo in combos:
        query = _query(combo, world.ids)
        for principal, token in tokens.items():
            compiled = await differ.check(token, query, None)
            by_principal[principal] = by_principal.get(principal, 0) + compiled
    lookup = "query($a: ID!, $b: ID!) { a: space(id: $a) { id title } b: block(id: $b) { id } }"
    values = [
        world.ids["Space"][0],
        "@",
        encode_id("Space", uuid.UUID(int=8)),
        world.ids["Block"][0],
    ]
    for a, b in itertools.product(values, repeat=2):
        for principal, token in tokens.items():
            compiled = await differ.check(token, lookup, {"a": a, "b": b})
            by_principal[principal] = by_principal.get(principal, 0) + compiled
    viewer = "viewer { __typename kind tenantId tenantName memberId email roles contactId }"
    for other in (
        "",
        "__typename",
        'space(id: "{}") {{ id }}'.format(world.ids["Space"][0]),
        "spaces { totalCount }",
    ):
        for principal, token in tokens.items():
            await differ.check(token, f"{{ v: {viewer} {other} }}", None)
            await differ.check(token, f"{{ {other} w: viewer {{ kind roles }} }}", None)
    foreign = [
        encode_id("ApiKey", uuid.uuid4()),
        encode_id("Nothing", uuid.uuid4()),
        encode_id("Space", uuid.uuid4()),
        "%%%",
    ]
    for node_id in [*(world.ids[k][0] for k in ("Space", "Block", "Contact")), *foreign]:
        for principal, token in tokens.items():
            await differ.check(token, NODE, {"id": node_id})
            await differ.check(
                token, "query($id: ID!) { node(id: $id) { __typename } }", {"id": node_id}
            )
    search = "query($q: String) { contacts(first: 10, search: $q) { totalCount edges { node { id email } } } }"
    needles = ["", "  ", "ann", "ANN", "%", "_", "\\", "de la", "example.com", " Marie ", "x" * 250]
    for needle in [*needles, None]:
        for principal, token in tokens.items():
            await differ.check(token, search, {"q": needle})
    bad_pages = [
        '{ spaces(after: "junk") { totalCount } }',
        '{ __typename s: spaces(first: 2, after: "e30") { edges { node { id } } } }',
        '{{ c: contact(id: "{}") {{ id }} contacts(after: "!!") {{ totalCount }} }}'.format(
            world.ids["Contact"][0]
        ),
        '{ spaces(first: 1) { edges { node { blocks(after: "junk") { totalCount } } } } }',
        '{ spaces(after: "junk") { totalCount } contacts { totalCount } }',
    ]
    for query in bad_pages:
        for principal, token in tokens.items():
            await differ.check(token, query, None)
    print(f"\nroot combinations: {differ.compiled}/{differ.total} compiled, {by_principal}")
    print(app.state.compiled_reads.reasons)
    # a subject may read none of these roots: every combination is a denial the planner
    # answers without SQL (only denied non-null roots beside allowed ones fall back)
    for principal in ("subject", "real_subject", "anonymous", "rejected"):
        assert by_principal[principal] == len(combos) + 16, principal


BODIES = [
    ("heading", {"text": "Title", "level": 3}),
    ("heading", {"text": "No level"}),
    ("rich_text", {"format": "plain", "text": 'Plain ünïcode "quoted"'}),
    ("rich_text", {"text": "no format"}),
    ("link", {"url": "https://example.com/a", "label": "A"}),
    ("link", {"url": "https://example.com/b"}),
    ("file", {"url": "https://e.com/f", "name": "f.pdf", "sizeBytes": 12, "mimeType": "x/y"}),
    ("file", {"url": "https://e.com/g", "name": "g"}),
    ("video", {"url": "https://e.com/v", "caption": "V"}),
    ("video", {"url": "https://e.com/w"}),
    ("embed", {"url": "https://e.com/e", "title": "E", "height": 300}),
    ("embed", {"url": "https://e.com/e2"}),
    ("checklist", {"items": [{"text": "one", "checked": True}, {"text": "two"}]}),
    # files of the asset library: no url of their own (the asset's is the resolvers')
    ("file", {"assetId": "6f1c1d55-64c3-4cf2-9b1e-0c8f1b7f6a10", "name": "lib.pdf"}),
    ("video", {"assetId": "6f1c1d55-64c3-4cf2-9b1e-0c8f1b7f6a11", "caption": "C"}),
    ("image", {"assetId": "6f1c1d55-64c3-4cf2-9b1e-0c8f1b7f6a12", "alt": "A"}),
    ("image", {"assetId": "6f1c1d55-64c3-4cf2-9b1e-0c8f1b7f6a13", "decorative": True}),
]
ALL_MEMBERS = """__typename
  ... on HeadingBody { text level }
  ... on RichTextBody { f: format text }
  ... on LinkBody { url label }
  ... on FileBody { url name sizeBytes mimeType assetId __typename }
  ... on VideoBody { url caption assetId }
  ... on EmbedBody { url title height }
  ... on ImageBody { alt decorative caption assetId }
  ... on ChecklistBody { items { text checked __typename } n: items { checked } }"""
CONTENT_SELECTIONS = [
    ALL_MEMBERS,
    "__typename",
    "... on HeadingBody { level } ... on ChecklistBody { __typename }",
    # the compiler declines rich text's HTML: the resolver path answers the whole query
    "... on RichTextBody { html text } ... on LinkBody { url }",
    "...B fragment",
]


async def test_typed_block_content_answers_alike(app, api, world, audits, owner_url):  # noqa: F811
    from core.db import owner_db
    from core.ids import decode_id, encode_id
    from models import Block

    differ = Differ(app, strict(api), audits)
    space_id = decode_id(world.ids["Space"][0], "Space")
    engine_url = owner_url
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(engine_url)
    async with engine.connect() as conn:
        tenant_id = await conn.scalar(
            text("SELECT tenant_id FROM spaces WHERE id = :s"), {"s": space_id}
        )
    await engine.dispose()
    block_ids = []
    async with owner_db(owner_url, tenant_id) as db:
        for position, (kind, body) in enumerate(BODIES, start=100):
            bid = uuid.uuid4()
            block_ids.append(encode_id("Block", bid))
            db.add(Block(id=bid, space_id=space_id, kind=kind, position=position, body=body))
    fragment = (
        " fragment B on BlockBody { __typename ... on LinkBody { label } "
        "...on HeadingBody { text } }"
    )
    compiled = 0
    for selection in CONTENT_SELECTIONS:
        tail = ""
        if selection.endswith(" fragment"):
            selection, tail = selection.removesuffix(" fragment"), fragment
        queries = [
            (
                f'{{ space(id: "{world.ids["Space"][0]}") {{ blocks(first: 25) {{ edges {{ node '
                f"{{ kind content {{ {selection} }} }} }} }} }} }}{tail}"
            ),
            *(
                f'{{ block(id: "{b}") {{ id c: content {{ {selection} }} }} }}{tail}'
                for b in block_ids
            ),
        ]
        for query in queries:
            for principal in ("owner", "viewer", "partner"):
                done = await differ.check(world.tokens[principal], query, None)
                # the compiler declines rich text's HTML (a partner's read is a denial)
                assert done == ("html" not in selection or principal == "partner"), query
                compiled += done
    print(f"\ntyped content: {differ.compiled}/{differ.total} compiled")
    # a partner key may not read spaces or blocks (refused: compiled as a denial)
    assert differ.compiled == differ.total - 2 * (1 + len(block_ids))


AUDIENCE_QUERIES = [
    DOCUMENTS["WidgetSpace"],
    DOCUMENTS["WidgetRichText"],
    DOCUMENTS["VisitorConsent"],
    (
        "query($id: ID!) { space(id: $id) { id status blocks { totalCount pageInfo { hasNextPage } "
        "edges { cursor node { id content { __typename } space { id status } } } } } }"
    ),
    "{ spaces(first: 50) { totalCount edges { node { id status blocks(first: 1) { totalCount } } } } }",
    "{ spaces(status: DRAFT) { totalCount edges { node { id } } } }",
    "query($id: ID!) { block(id: $id) { id body space { id title } } }",
    (
        "query($id: ID!) { contact(id: $id) { id email fullName consents { purpose state } "
        "consentHistory { totalCount edges { node { purpose action } } } } }"
    ),
    "{ contacts(first: 50) { totalCount edges { node { id email phone } } } }",
    "query($id: ID!) { space(id: $id) { id contacts { totalCount edges { node { state } } } } }",
    "query($id: ID!) { a: space(id: $id) { id } b: spaces { totalCount } c: contacts { totalCount } }",
    NODE,
]


async def test_widget_keys_and_visitors_see_only_their_rows_on_both_paths(
    app,
    api,
    client,
    audits,  # noqa: F811
    new_tenant,
    owner_url,
    settings,
):
    """Tenant isolation first: a widget key sees the published spaces bound to it and their
    blocks, a visitor the published spaces shared with them and their own contact; drafts,
    unbound or unshared spaces, other contacts and another tenant's rows are NOT_FOUND or
    absent, identically on both paths."""
    from tests.factories import make_access, make_contacts, make_spaces, mint_key
    from tests.widgets import REGISTER, PersistedApi, open_visitor, sha256

    t = await new_tenant("Audience")
    other_tenant = await new_tenant("Audience elsewhere")
    spaces = {
        status: (await make_spaces(owner_url, t.tenant_id, 1, blocks_each=2, status=s))[0]
        for status, s in (
            ("published", "published"),
            ("draft", "draft"),
            ("archived", "archived"),
            ("unbound", "published"),
        )
    }
    (foreign,) = await make_spaces(
        owner_url, other_tenant.tenant_id, 1, blocks_each=1, status="published"
    )
    jane, other = await make_contacts(owner_url, t.tenant_id, 2)
    (stranger,) = await make_contacts(owner_url, other_tenant.tenant_id, 1)
    await make_access(owner_url, t.tenant_id, spaces["published"], [jane, other])
    await make_access(owner_url, t.tenant_id, spaces["draft"], [jane])
    await make_access(owner_url, t.tenant_id, spaces["unbound"], [other])
    owner = api(t.token)
    bound = [encode_id("Space", spaces[k]) for k in ("published", "draft", "archived")]
    widget = await mint_key(
        owner, "widget", [], spaceIds=bound, allowedOrigins=["https://a.example"]
    )
    session = await open_visitor(client, settings.secret(), t.tenant_id, spaces["published"], jane)
    tokens = {"widget": widget, "visitor": session["visitorToken"]}
    for query in AUDIENCE_QUERIES:
        result = await owner(REGISTER, {"input": {"document": query}})
        errors = result["data"]["persistedDocumentRegister"]["userErrors"]
        assert errors in ([], [{"code": "ALREADY_REGISTERED"}]) or not errors, result
    clients = {}
    for token in tokens.values():
        clients[token] = PersistedApi(client, token, owner)
        clients[token].registered = {sha256(q) for q in AUDIENCE_QUERIES}
    differ = Differ(app, strict(lambda token: clients[token]), audits)

    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(owner_url)
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT id FROM blocks WHERE space_id = ANY(:s)"),
            {"s": [*spaces.values(), foreign]},
        )
        blocks = [encode_id("Block", r[0]) for r in rows]
    await engine.dispose()
    ids = [encode_id("Space", s) for s in [*spaces.values(), foreign, uuid.uuid4()]]
    ids += blocks + [encode_id("Contact", c) for c in (jane, other, stranger)]
    compiled = {p: 0 for p in tokens}
    answered: dict[str, list[Any]] = {p: [] for p in tokens}
    for query in AUDIENCE_QUERIES:
        name = "contactId" if "$contactId" in query else "id"
        variables_list = [{name: i} for i in ids] if f"${name}" in query else [None]
        for variables in variables_list:
            for principal, token in tokens.items():
                compiled[principal] += await differ.check(token, query, variables)
                answered[principal].append(None)
    print(f"\nwidget and visitor: {compiled} of {len(answered['widget'])} each")
    # every one of these reads compiles (the narrowing is in the statement), but for the
    # widget's denied `contacts` beside other roots, and rich text's HTML, which the resolver
    # path answers
    assert compiled == {
        "widget": len(answered["widget"]) - 2 * len(ids),
        "visitor": len(answered["visitor"]) - len(ids),
    }


def _page_error_queries(ids: dict[str, list[str]]) -> list[str]:
    space, block, contact = ids["Space"][0], ids["Block"][0], ids["Contact"][1]
    missing = encode_id("Space", uuid.UUID(int=9))
    values = {"$space": space, "$block": block, "$contact": contact, "$missing": missing}
    out = []
    for query in PAGE_ERRORS:
        for name, value in values.items():
            query = query.replace(name, value)
        out.append(query)
    return out


PAGE_ERRORS = [
    # nullable nested connections: null and the error under every parent in the list
    '{ spaces(first: 5) { edges { node { id contacts(after: "junk") { totalCount } } } } }',
    (
        "{ contacts(first: 4) { edges { node { id email spaces(first: 2, last: 1) { totalCount }"
        ' consentHistory(after: "zz") { totalCount } } } } }'
    ),
    '{ space(id: "$space") { id contacts(before: "e30") { totalCount } } }',
    # a non-null one (Space.blocks) nulls its nearest nullable ancestor
    '{ space(id: "$space") { id title blocks(after: "junk") { totalCount } } }',
    (
        '{ s: space(id: "$space") { contacts(after: "!") { totalCount } '
        "blocks(first: 1, last: 1) { totalCount } } spaces { totalCount } }"
    ),
    (
        '{ space(id: "$space") { a: blocks(first: 2, last: 1) { totalCount } '
        'b: blocks(after: "x") { totalCount } } }'
    ),
    '{ space(id: "$missing") { id blocks(after: "junk") { totalCount } } }',
    '{ block(id: "$block") { id space { id blocks(before: "W10") { totalCount } } } }',
    '{ node(id: "$space") { id ... on Space { blocks(before: "?") { totalCount } } } }',
    (
        '{ contact(id: "$contact") { id spaces { edges { node { id '
        'space { id blocks(after: "junk") { totalCount } } } } } } }'
    ),
]


async def test_nested_page_errors_answer_alike(app, api, world, audits):  # noqa: F811
    """A nested connection's own bad argument (a cursor, a page size) is an error the
    compiled path reports as the resolver path does: for a nullable connection at every
    parent, for Space.blocks (non-null) at the nearest nullable ancestor."""
    differ = Differ(app, strict(api), audits)
    executed = ("owner", "viewer", "editor", "privacy_officer", "partner", "subject")
    for query in _page_error_queries(world.ids):
        for principal in executed:
            assert await differ.check(world.tokens[principal], query, None), (
                principal,
                query,
                differ.reads.reasons,
            )
    # the error itself, for one of them: the list indices are in its path
    response = await api(world.tokens["owner"]).post(_page_error_queries(world.ids)[0])
    body = response.json()
    assert body["data"]["spaces"]["edges"][0]["node"]["contacts"] is None
    error = body["errors"][0]
    assert error["path"] == ["spaces", "edges", 0, "node", "contacts"]
    assert error["extensions"]["code"] == "INVALID_CURSOR"
    assert len(body["errors"]) == len(body["data"]["spaces"]["edges"])


async def test_a_failing_non_null_connection_under_a_list_is_left_to_the_resolver_path(
    app,
    api,
    world,  # noqa: F811
    audits,  # noqa: F811
):
    """Which entry of a list reports first decides the answer there: not compiled."""
    differ = Differ(app, strict(api), audits)
    query = '{ spaces(first: 3) { edges { node { id blocks(after: "junk") { totalCount } } } } }'
    assert not await differ.check(world.tokens["owner"], query, None)
    # with the cursor in a variable the plan cannot know: the resolver path answers
    query = 'query($c: String) { space(id: "%s") { contacts(after: $c) { totalCount } } }'
    assert not await differ.check(world.tokens["owner"], query % world.ids["Space"][0], {"c": "x"})


async def test_page_info_of_constants_over_no_rows(app, api, world, audits):  # noqa: F811
    """`hasPreviousPage` alone is a constant: the page still answers over no rows."""
    differ = Differ(app, strict(api), audits)
    bare = world.ids["Space"][2]  # shared with no contact
    for query in (
        f'{{ space(id: "{bare}") {{ contacts(first: 5) {{ pageInfo {{ hasPreviousPage }} }} }} }}',
        f'{{ space(id: "{bare}") {{ blocks(first: 0) {{ pageInfo {{ hasPreviousPage }} }} }} }}',
        "{ spaces(first: 0) { pageInfo { hasPreviousPage __typename } } }",
    ):
        assert await differ.check(world.tokens["owner"], query, None), query
