"""A tenant's widget brand and rich text's sanitised HTML, through the API.

Invariants:
- owners and admins set the brand, editors may not; every value is validated (hex colours,
  a font stack of a safe character set, an https logo URL, a radius of 0 to 32) and a
  refused change changes nothing; omitted fields stay, null clears;
- the brand is served with the tenant's spaces, to members and widget keys, never another
  tenant's;
- `RichTextBody.html` is Markdown rendered and sanitised: links only http, https and
  mailto, with rel="noopener noreferrer"; raw HTML stays text.
"""

from __future__ import annotations

import uuid

from core.db import owner_db
from core.ids import encode_id
from models import Block
from tests.conftest import error_codes
from tests.factories import make_spaces, mint_key
from tests.widgets import PersistedApi, sha256

BRAND = """mutation($input: BrandUpdateInput!) { brandUpdate(input: $input) {
  brand { primaryColor backgroundColor textColor fontFamily logoUrl cornerRadius }
  userErrors { code field message } } }"""
SPACE = """query($id: ID!) { space(id: $id) { brand { primaryColor fontFamily cornerRadius }
  blocks { edges { node { content { ... on RichTextBody { html } } } } } } }"""
GOOD = {
    "primaryColor": "#7A1FA2",
    "backgroundColor": "#fff",
    "textColor": "#1f1f1f",
    "fontFamily": "\"Open Sans\", 'Noto Sans', sans-serif",
    "logoUrl": "https://cdn.example.com/logo.svg",
    "cornerRadius": 0,
}


async def test_owners_and_admins_set_the_brand_and_values_are_checked(api, new_tenant, new_member):
    t = await new_tenant("Brand")
    owner = api(t.token)
    result = await owner(BRAND, {"input": GOOD})
    assert result["data"]["brandUpdate"] == {"brand": GOOD, "userErrors": []}

    bad = {
        "primaryColor": ("red", "INVALID_COLOR"),
        "textColor": ("#12345", "INVALID_COLOR"),
        "backgroundColor": ("#fff;background:url(x)", "INVALID_COLOR"),
        "fontFamily": ("Arial; } :host { display: none", "INVALID_FONT"),
        "logoUrl": ("javascript:alert(1)", "INVALID_URL"),
        "cornerRadius": (33, "INVALID_RADIUS"),
    }
    for field, (value, code) in bad.items():
        result = await owner(BRAND, {"input": {field: value}})
        assert result["data"]["brandUpdate"]["userErrors"][0]["code"] == code, field
        assert result["data"]["brandUpdate"]["userErrors"][0]["field"] == ["input", field]
    for field, value in [
        ("fontFamily", '"Unbalanced, serif'),
        ("fontFamily", "x" * 201),
        ("logoUrl", "http://cdn.example.com/logo.svg"),
        ("cornerRadius", -1),
    ]:
        result = await owner(BRAND, {"input": {field: value}})
        assert result["data"]["brandUpdate"]["userErrors"], (field, value)

    # omitted fields stay, null clears one
    result = await owner(BRAND, {"input": {"cornerRadius": 12, "logoUrl": None}})
    assert result["data"]["brandUpdate"]["brand"] == {
        **GOOD,
        "cornerRadius": 12,
        "logoUrl": None,
    }

    admin = await new_member(t.tenant_id, "admin")
    result = await api(admin.token)(BRAND, {"input": {"primaryColor": "#000"}})
    assert result["data"]["brandUpdate"]["userErrors"] == []
    editor = await new_member(t.tenant_id, "editor")
    result = await api(editor.token)(BRAND, {"input": {"primaryColor": "#fff"}})
    assert error_codes(result) == ["FORBIDDEN"]


async def test_the_brand_comes_with_the_tenants_spaces_only(api, client, new_tenant, owner_url):
    t, other = await new_tenant("Branded"), await new_tenant("Plain")
    await api(t.token)(BRAND, {"input": {"primaryColor": "#123456", "cornerRadius": 3}})
    (space,) = await make_spaces(owner_url, t.tenant_id, 1, status="published")
    (plain,) = await make_spaces(owner_url, other.tenant_id, 1, status="published")
    result = await api(t.token)(SPACE, {"id": encode_id("Space", space)})
    brand = {"primaryColor": "#123456", "fontFamily": None, "cornerRadius": 3}
    assert result["data"]["space"]["brand"] == brand
    result = await api(other.token)(SPACE, {"id": encode_id("Space", plain)})
    assert result["data"]["space"]["brand"] == {
        "primaryColor": None,
        "fontFamily": None,
        "cornerRadius": None,
    }

    # a widget key reads it with the reference widget's own document
    from microspace.web.widget_documents import DOCUMENTS

    ids = [encode_id("Space", space)]
    key = await mint_key(
        api(t.token), "widget", [], spaceIds=ids, allowedOrigins=["https://a.example"]
    )
    widget = PersistedApi(client, key, api(t.token))
    widget.registered.add(sha256(DOCUMENTS["WidgetSpace"]))  # shipped: trusted already
    result = await widget.post(DOCUMENTS["WidgetSpace"], {"id": ids[0]})
    assert result.json()["data"]["space"]["brand"]["primaryColor"] == "#123456"


async def test_rich_text_html_is_rendered_and_sanitised(api, new_tenant, owner_url):
    t = await new_tenant("Rich")
    (space,) = await make_spaces(owner_url, t.tenant_id, 1)
    texts = [
        {"text": "Your **onboarding** [guide](https://e.com/g) and [mail](mailto:a@e.com)"},
        {"text": "[x](javascript:alert(1)) <script>alert(1)</script> <b onclick=x>b</b>"},
        {"format": "plain", "text": "a *b* <i>c</i>\n\nnext"},
    ]
    async with owner_db(owner_url, t.tenant_id) as db:
        for i, body in enumerate(texts):
            db.add(Block(id=uuid.uuid4(), space_id=space, kind="rich_text", position=i, body=body))
    result = await api(t.token)(SPACE, {"id": encode_id("Space", space)})
    html = [e["node"]["content"]["html"] for e in result["data"]["space"]["blocks"]["edges"]]
    assert html == [
        (
            '<p>Your <strong>onboarding</strong> <a href="https://e.com/g" rel="noopener noreferrer">'
            'guide</a> and <a href="mailto:a@e.com" rel="noopener noreferrer">mail</a></p>\n'
        ),
        (
            "<p>[x](javascript:alert(1)) &lt;script&gt;alert(1)&lt;/script&gt; "
            "&lt;b onclick=x&gt;b&lt;/b&gt;</p>\n"
        ),
        "<p>a *b* &lt;i&gt;c&lt;/i&gt;</p><p>next</p>",
    ]
