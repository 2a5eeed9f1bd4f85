# ruff: noqa: F811 (the fixtures of tests/test_widget_browser.py, imported)
"""The reference widget as a customer ships it, in a real browser (tests/test_widget_browser.py
has the servers: the host page on another origin than the API).

Invariants:
- axe-core finds no WCAG 2.1 AA violation in the loading, space, not-available, consent and preview
  states; the loading animation stops under reduced motion;
- OWASP filter-evasion payloads saved as block text execute nothing and fetch nothing;
- the tenant's brand (colour, font) shows, a host page's `::part` rule applies, and the
  custom element renders like the snippet;
- the widget speaks the host page's language (German for lang="de"), else the browser's;
  an Arabic space lays out right to left;
- a space of more than 100 blocks shows them all; nothing shifts while it loads;
- keyboard alone accepts or declines the consent choice, with a visible focus;
- the script is at most 15 KB gzipped.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from core.db import owner_db
from core.ids import decode_id
from models import Block
from tests.factories import publish
from tests.test_widget_browser import (  # noqa: F401
    HOST_PAGE,
    PREVIEW,
    _open_invitation,
    _usage,
    _usage_recorded,
    _world,
    browser,
    servers,
)

AXE = Path(__file__).with_name("axe") / "node_modules" / "axe-core" / "axe.min.js"
WCAG21AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BRAND = """mutation($input: BrandUpdateInput!) { brandUpdate(input: $input) {
  brand { primaryColor fontFamily cornerRadius } userErrors { code field } } }"""


@pytest.fixture(scope="module")
def axe() -> Path:
    """axe-core from tests/axe (installed from the registry when missing)."""
    if not AXE.exists():
        import shutil
        import subprocess

        npm = shutil.which("npm")
        if not npm:
            pytest.skip("npm is needed for axe-core: apt-get install npm")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=AXE.parents[2], check=True)
    return AXE


async def _violations(page: Page, axe: Path) -> list[dict[str, Any]]:
    await page.add_script_tag(path=str(axe))
    result = await page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG21AA
    )
    return [
        {"id": v["id"], "nodes": [n["target"] for n in v["nodes"]]} for v in result["violations"]
    ]


def _page(servers: dict[str, str], lang: str = "en", css: str = "") -> None:
    servers["html"] = HOST_PAGE.format(
        published=servers["published"],
        draft=servers["draft"],
        api=servers["api"],
        key=servers["key"],
        lang=lang,
        css=css,
    )


async def _add_blocks(owner_url: Any, tenant_id: uuid.UUID, space: str, blocks: list) -> None:
    space_id = decode_id(space, "Space")
    async with owner_db(owner_url, tenant_id) as db:
        for i, (kind, body) in enumerate(blocks, start=10):
            db.add(Block(id=uuid.uuid4(), space_id=space_id, kind=kind, position=i, body=body))
    await publish(owner_url, tenant_id, space_id)  # what the widget shows


async def _ready(page: Page, selector: str = "#published", state: str = "ready") -> Any:
    widget = page.locator(selector)
    await widget.and_(page.locator(f"[data-state={state}]")).wait_for(timeout=15_000)
    return widget


RICH = [
    ("rich_text", {"text": "Your **onboarding** checklist, see [the guide](https://e.com/g)."}),
    ("heading", {"text": "Deeper", "level": 5}),
    ("checklist", {"items": [{"text": "Sign", "checked": True}, {"text": "Send"}]}),
    ("link", {"url": "https://e.com/terms", "label": "Terms"}),
]


async def test_no_accessibility_violations_loading_space_and_not_available(
    api, new_tenant, owner_url, servers, browser, axe
):
    t, _published = await _world(api, new_tenant, owner_url, servers)
    await _add_blocks(owner_url, t.tenant_id, servers["published"], RICH)
    _page(servers)
    page = await browser.new_page()
    await page.emulate_media(reduced_motion="reduce")
    held: list[Any] = []  # the space's reads wait until the loading state is checked

    async def hold(route: Any) -> None:
        if held and held[0] is None:
            await route.continue_()
        else:
            held.append(route)

    await page.route("**/graphql?**", hold)
    await page.goto(f"{servers['page']}/page.html")
    await _ready(page, state="loading")
    status = page.locator("#published .status")
    await status.wait_for()
    assert await status.inner_text() == "Loading\u2026"
    # reduced motion: the loading pulse does not run
    assert await status.evaluate("e => getComputedStyle(e).animationName") == "none"
    assert await _violations(page, axe) == []
    routes, held[:] = list(held), [None]
    for route in routes:
        await route.continue_()

    widget = await _ready(page)
    await _ready(page, "#draft", "error")
    assert await widget.locator("strong").inner_text() == "onboarding"
    assert await widget.locator(".rich a").get_attribute("rel") == "noopener noreferrer"
    # headings in order under the page's h1: the title h2, level-2 blocks h3, and a level-5
    # block one level deeper than the heading before it, not three
    levels = await widget.locator("h2, h3, h4, h5, h6").evaluate_all("hs => hs.map(h => h.tagName)")
    assert levels == ["H2", "H3", "H3", "H4"], levels
    assert await _violations(page, axe) == []  # the space and the not-available state


async def test_consent_state_is_accessible_and_keyboard_accepts(
    api, new_tenant, owner_url, servers, browser, settings, axe
):
    t, page, widget = await _open_invitation(api, new_tenant, owner_url, servers, browser, settings)
    assert await _violations(page, axe) == []
    allow = widget.locator("button[data-consent=allow]")
    for _ in range(20):  # Tab through the page until the widget's Allow has the focus
        await page.keyboard.press("Tab")
        if await allow.evaluate("b => b.getRootNode().activeElement === b"):
            break
    else:
        raise AssertionError("Tab never reached Allow")
    # a visible focus: the outline is drawn
    outline = await allow.evaluate("b => getComputedStyle(b).outlineStyle")
    assert outline == "solid"
    await page.keyboard.press("Enter")
    assert await _usage_recorded(owner_url, t.tenant_id) == 1
    assert await widget.locator(".consent").count() == 0


async def test_keyboard_declines(api, new_tenant, owner_url, servers, browser, settings):
    t, page, widget = await _open_invitation(api, new_tenant, owner_url, servers, browser, settings)
    decline = widget.locator("button[data-consent=decline]")
    for _ in range(20):
        await page.keyboard.press("Tab")
        if await decline.evaluate("b => b.getRootNode().activeElement === b"):
            break
    else:
        raise AssertionError("Tab never reached Decline")
    await page.keyboard.press("Space")
    await widget.locator(".consent").wait_for(state="detached", timeout=5_000)
    # focus returns to the space's title, not to nowhere
    assert await widget.locator("h2").evaluate("h => h.getRootNode().activeElement === h")
    await asyncio.sleep(0.5)
    assert await _usage(owner_url, t.tenant_id) == 0


# From the OWASP XSS Filter Evasion Cheat Sheet; {c} is a URL whose every request is counted
OWASP = [
    "<SCRIPT SRC={c}/xss.js></SCRIPT>",
    (
        "javascript:/*--></title></style></textarea></script></xmp>"
        "<svg/onload='+/\"/+/onmouseover=1/+/[*/[]/+alert(1)//'>"
    ),
    "<IMG SRC=\"javascript:alert('XSS');\">",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
    '<a onmouseover="alert(document.cookie)">xxs link</a>',
    '<IMG """><SCRIPT>alert("XSS")</SCRIPT>"\\>',
    "<IMG SRC=javascript:alert(String.fromCharCode(88,83,83))>",
    '<IMG SRC=/ onerror="alert(String.fromCharCode(88,83,83))"></img>',
    (
        '<img src=x onerror="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114'
        "&#0000105&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040"
        '&#0000039&#0000088&#0000083&#0000083&#0000039&#0000041">'
    ),
    (
        "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;"
        "&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>"
    ),
    "<IMG SRC=\"jav\tascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x0A;ascript:alert('XSS');\">",
    '<SCRIPT/XSS SRC="{c}/xss.js"></SCRIPT>',
    '<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert("XSS")>',
    '<<SCRIPT>alert("XSS");//\\<</SCRIPT>',
    "<SCRIPT SRC={c}/xss.js?< B >",
    "<iframe src={c}/scriptlet.html <",
    "\\\";alert('XSS');//",
    '</TITLE><SCRIPT>alert("XSS");</SCRIPT>',
    '<INPUT TYPE="IMAGE" SRC="javascript:alert(\'XSS\');">',
    "<BODY BACKGROUND=\"javascript:alert('XSS')\">",
    "<svg/onload=alert('XSS')>",
    "<BODY ONLOAD=alert('XSS')>",
    '<LINK REL="stylesheet" HREF="{c}/xss.css">',
    "<STYLE>@import'{c}/xss.css';</STYLE>",
    '<META HTTP-EQUIV="refresh" CONTENT="0;url=javascript:alert(\'XSS\');">',
    "<IFRAME SRC=\"javascript:alert('XSS');\"></IFRAME>",
    "<DIV STYLE=\"background-image: url(javascript:alert('XSS'))\">",
    '<DIV STYLE="background-image:url({c}/bg.png)">x</DIV>',
    '<OBJECT TYPE="text/x-scriptlet" DATA="{c}/scriptlet.html"></OBJECT>',
    "<a href=\"javascript:alert('XSS')\">click</a>",
    "<img src={c}/img.png onerror=fetch('{c}/onerror')>",
    "[markdown](javascript:alert('XSS'))",
    "[md](  JaVaScRiPt:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![image]({c}/md.png)",
    '<svg><script href="{c}/svg.js"/></svg>',
    "<details open ontoggle=alert(1)>",
]


async def test_owasp_payloads_execute_and_fetch_nothing(
    api, new_tenant, owner_url, servers, browser
):
    t, _published = await _world(api, new_tenant, owner_url, servers)
    canary = f"{servers['page']}/canary"
    payloads = [p.replace("{c}", canary) for p in OWASP]
    blocks: list[tuple[str, dict[str, Any]]] = []
    for p in payloads:
        blocks += [
            ("rich_text", {"text": p}),
            ("rich_text", {"format": "plain", "text": p}),
            ("heading", {"text": p}),
            ("checklist", {"items": [{"text": p}]}),
            ("link", {"url": "https://e.com/", "label": p}),
        ]
    await _add_blocks(owner_url, t.tenant_id, servers["published"], blocks)
    _page(servers)
    page = await browser.new_page()
    dialogs: list[str] = []
    requests: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message) or asyncio.ensure_future(d.dismiss()))
    page.on("request", lambda r: requests.append(r.url))
    await page.goto(f"{servers['page']}/page.html")
    widget = await _ready(page)
    assert await widget.locator(".block").count() == 2 + len(blocks)
    await page.mouse.move(200, 300)  # onmouseover, had any survived
    await asyncio.sleep(1)
    assert dialogs == []
    allowed = (f"{servers['page']}/page.html", f"{servers['api']}/widget.js", servers["api"])
    assert [u for u in requests if "canary" in u or not u.startswith(allowed)] == []
    # nothing in the shadow root carries a handler, a script, a frame or a script URL
    found = await page.evaluate(
        """() => [...document.querySelector('#published').shadowRoot.querySelectorAll('*')]
          .flatMap(e => [
            ...(['SCRIPT','IFRAME','OBJECT','EMBED','IMG','SVG','STYLE','LINK','META','INPUT']
                .includes(e.tagName.toUpperCase()) && e.parentNode.nodeName !== '#document-fragment'
                ? [e.tagName] : []),
            ...[...e.attributes].filter(a => /^on/i.test(a.name) ||
                (['href','src'].includes(a.name) && !/^(https?|mailto):/i.test(a.value)))
              .map(a => e.tagName + ' ' + a.name + '=' + a.value)])"""
    )
    assert found == []
    # the Markdown of a payload shows as text
    assert "<SCRIPT" in await widget.locator(".block-rich_text").first.inner_text()


async def test_brand_part_and_custom_element(api, new_tenant, owner_url, servers, browser):
    t, _published = await _world(api, new_tenant, owner_url, servers)
    await _add_blocks(owner_url, t.tenant_id, servers["published"], RICH)
    owner = api(t.token)
    result = await owner(
        BRAND,
        {"input": {"primaryColor": "#7a1fa2", "fontFamily": "Georgia, serif", "cornerRadius": 4}},
    )
    assert result["data"]["brandUpdate"]["userErrors"] == [], result
    css = "#published::part(title) { letter-spacing: 3px } microspace-space { display: block }"
    _page(servers, css=css)
    servers["html"] = servers["html"].replace(
        "</main>",
        f'<microspace-space id="element" space-id="{servers["published"]}"'
        ' style="min-height:400px"></microspace-space></main>',
    )
    page = await browser.new_page()
    await page.add_init_script(
        "window.__cls = 0; new PerformanceObserver(l => l.getEntries().forEach(e => {"
        " if (!e.hadRecentInput) window.__cls += e.value })).observe({type: 'layout-shift',"
        " buffered: true})"
    )
    await page.goto(f"{servers['page']}/page.html")
    for selector in ("#published", "#element"):
        widget = await _ready(page, selector)
        link = widget.locator(".rich a")
        assert await link.evaluate("a => getComputedStyle(a).color") == "rgb(122, 31, 162)"
        font = await widget.locator("article").evaluate("a => getComputedStyle(a).fontFamily")
        assert font.startswith("Georgia"), font
    title = page.locator("#published h2")
    assert await title.evaluate("h => getComputedStyle(h).letterSpacing") == "3px"
    # the custom element draws the same space
    assert await page.locator("#element h2").inner_text() == "Welcome pack"
    await asyncio.sleep(0.5)
    assert await page.evaluate("window.__cls") <= 0.01


async def test_german_page_french_browser_and_an_arabic_space(
    api, new_tenant, owner_url, servers, browser
):
    t, published = await _world(api, new_tenant, owner_url, servers)
    _page(servers, lang="de")
    page = await browser.new_page()
    await page.goto(f"{servers['page']}/page.html")
    draft = await _ready(page, "#draft", "error")
    assert await draft.locator(".status").inner_text() == "Dieser Bereich ist nicht verf\u00fcgbar."

    # no lang on the page: the browser's languages decide
    _page(servers, lang="")
    servers["html"] = servers["html"].replace(' lang=""', "")
    context = await browser.new_context(locale="fr-FR")
    page = await context.new_page()
    await page.goto(f"{servers['page']}/page.html")
    draft = await _ready(page, "#draft", "error")
    assert await draft.locator(".status").inner_text() == "Cet espace n\u2019est pas disponible."
    await context.close()

    async with owner_db(owner_url, t.tenant_id) as db:
        from sqlalchemy import update

        from models import Space

        await db.execute(
            update(Space)
            .where(Space.id == published)
            .values(title="\u0645\u0631\u062d\u0628\u0627")
        )
    await _add_blocks(
        owner_url,
        t.tenant_id,
        servers["published"],
        [
            (
                "rich_text",
                {
                    "text": "\u0623\u0647\u0644\u0627 \u0628\u0643\u0645 \u0641\u064a **\u0627\u0644\u0645\u0633\u0627\u062d\u0629**"
                },
            )
        ],
    )
    _page(servers, lang="ar")
    page = await browser.new_page()
    await page.goto(f"{servers['page']}/page.html")
    widget = await _ready(page)
    article = widget.locator("article")
    assert await article.evaluate("a => getComputedStyle(a).direction") == "rtl"
    rich = widget.locator(".rich p")
    assert await rich.evaluate("p => getComputedStyle(p).direction") == "rtl"
    # laid out from the right: the title's text ends at the article's right edge
    box = await article.bounding_box()
    text_right = await widget.locator("h2").evaluate(
        "h => { const r = document.createRange(); r.selectNodeContents(h);"
        " return r.getBoundingClientRect().right }"
    )
    assert box is not None and abs(box["x"] + box["width"] - text_right) < 2


async def test_more_than_100_blocks_show(api, new_tenant, owner_url, servers, browser):
    t, _published = await _world(api, new_tenant, owner_url, servers)
    many = [("heading", {"text": f"Step {i}"}) for i in range(230)]
    await _add_blocks(owner_url, t.tenant_id, servers["published"], many)
    _page(servers)
    page = await browser.new_page()
    await page.goto(f"{servers['page']}/page.html")
    widget = await _ready(page)
    assert await widget.locator(".block").count() == 232
    assert await widget.locator(".block h3").last.inner_text() == "Step 229"


async def test_the_script_is_at_most_15_kb_gzipped(client):
    response = await client.get("/widget.js")
    assert response.status_code == 200
    size = len(gzip.compress(response.content, compresslevel=9))
    print(f"\nwidget.js: {len(response.content)} bytes, {size} gzipped")
    assert size <= 15 * 1024


def _photo(width: int, height: int) -> bytes:
    import pyvips

    image = pyvips.Image.black(width, height, bands=3).draw_circle(
        [200, 120, 40], width // 2, height // 2, height // 3, fill=True
    )
    return bytes(image.jpegsave_buffer(Q=80))


PUBLISH = "mutation($id: ID!) { spacePublish(id: $id) { userErrors { code } } }"
ADD = """mutation($input: BlockAddInput!) { blockAdd(input: $input) { userErrors { code message } } }"""
OFFERED = (64, 128, 256, 512, 768, 1024, 1536, 2048)


async def _media_space(api, client, t, servers) -> str:
    """Every media kind in the published space; third parties are on `elsewhere`."""
    from tests.test_asset_blocks import MP4, _upload
    from tests.test_files import PDF, PNG

    photo = await _upload(client, t.token, _photo(1600, 1000), "photo.jpg")
    tiny = await _upload(client, t.token, PNG, "tiny.png")
    clip = await _upload(client, t.token, MP4, "clip.mp4")
    contract = await _upload(client, t.token, PDF, "contract.pdf")
    elsewhere = servers["elsewhere"]
    contents = [
        {"image": {"assetId": photo["id"], "alt": "A red sun", "caption": "Our logo"}},
        {"image": {"assetId": tiny["id"], "decorative": True}},
        {
            "gallery": {
                "items": [
                    {"assetId": photo["id"], "alt": "The sun again"},
                    {"assetId": clip["id"], "caption": "The clip"},
                ]
            }
        },
        {"file": {"assetId": contract["id"], "name": "Our contract"}},
        {
            "file": {
                "url": f"{elsewhere}/prices.pdf",
                "name": "Prices",
                "sizeBytes": 1_250_000,
                "mimeType": "application/pdf",
            }
        },
        {"video": {"assetId": clip["id"], "caption": "Welcome"}},
        {"video": {"url": f"{elsewhere}/v.mp4", "caption": "Elsewhere"}},
        {"embed": {"url": f"{elsewhere}/page.html", "title": "Our map", "height": 300}},
    ]
    owner = api(t.token)
    for content in contents:
        added = await owner(ADD, {"input": {"spaceId": servers["published"], "content": content}})
        assert added["data"]["blockAdd"]["userErrors"] == [], added
    published = await owner(PUBLISH, {"id": servers["published"]})
    assert published["data"]["spacePublish"]["userErrors"] == [], published
    return elsewhere


async def test_every_media_kind_renders_accessibly_and_third_parties_wait_for_a_click(
    api, client, new_tenant, owner_url, servers, browser, axe, settings
):
    t, _published = await _world(api, new_tenant, owner_url, servers)
    elsewhere = await _media_space(api, client, t, servers)
    _page(servers)
    page = await browser.new_page(viewport={"width": 900, "height": 700})
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    # file links name the configured public URL: here, the API's served port
    public = settings.with_public_url().public_url.rstrip("/")

    async def to_api(route: Any) -> None:
        await route.continue_(url=route.request.url.replace(public, servers["api"], 1))

    await page.route(f"{public}/files/**", to_api)
    await page.add_init_script(
        "window.__cls = 0; new PerformanceObserver(l => l.getEntries().forEach(e => {"
        " if (!e.hadRecentInput) window.__cls += e.value })).observe({type: 'layout-shift',"
        " buffered: true})"
    )
    await page.goto(f"{servers['page']}/page.html")
    widget = await _ready(page)
    # from here on only the media load: their boxes are reserved, so nothing may move (the
    # space's own arrival is the host page's to reserve: docs/widget.md)
    await page.evaluate("window.__cls = 0")

    # images: described (or decorative), their box reserved, lazy, chosen from srcset
    first = widget.locator(".block-image img").first
    attrs = await first.evaluate(
        "i => [i.alt, i.loading, i.getAttribute('width'), i.getAttribute('height'),"
        " !!i.srcset, i.sizes]"
    )
    assert attrs[:5] == ["A red sun", "lazy", "1600", "1000", True], attrs
    assert await widget.locator(".block-image img").nth(1).get_attribute("alt") == ""
    await first.scroll_into_view_if_needed()
    await page.wait_for_function(
        "() => document.querySelector('#published').shadowRoot.querySelector('img').complete"
    )
    shown = await first.evaluate("i => [i.clientWidth, i.currentSrc]")
    assert await first.evaluate("i => i.style.backgroundImage") == ""  # the placeholder went
    needed = min(w for w in OFFERED if w >= shown[0])
    # the variant the layout needs, not the original: the signed link names its file
    token = shown[1].split("/files/")[1].split(".")[0]
    key = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["k"]
    assert key.endswith(f"/v/w{needed}.webp"), (shown, key)
    assert attrs[5] == f"{shown[0]}px"
    assert await widget.locator(".gallery li").count() == 2
    assert await widget.locator(".gallery video").count() == 1
    # files: name, type and size; the library's by its signed link
    files = await widget.locator(".block-file").all_inner_texts()
    assert files[0].startswith("Our contract (PDF, ") and files[0].endswith("kB)"), files
    assert files[1] == "Prices (PDF, 1.3 MB)", files
    href = await widget.locator(".block-file a").first.get_attribute("href")
    assert href.startswith(f"{public}/files/")
    # video: the browser's own controls
    assert await widget.locator(".block-video video").first.get_attribute("controls") == ""
    # nothing of a third party before the visitor asks: no embed, no external video
    await asyncio.sleep(0.5)
    assert [u for u in requests if u.startswith(elsewhere)] == []
    assert await widget.locator("iframe").count() == 0
    assert await widget.locator(".block-video").nth(1).inner_text() == (
        f"Show content from {elsewhere.split('//')[1]}\n\nElsewhere"
    )
    assert await _violations(page, axe) == []  # every media kind, axe-core's WCAG 2.1 AA
    assert await page.evaluate("window.__cls") <= 0.01

    # a click loads the embed (keyboard-reachable: a real button)
    load = widget.locator(".block-embed button")
    assert elsewhere.split("//")[1] in await load.inner_text()
    async with page.expect_request(f"{elsewhere}/page.html"):
        await load.click()
    frame = widget.locator(".block-embed iframe")
    assert await frame.get_attribute("title") == "Our map"
    assert await frame.evaluate("f => f.getBoundingClientRect().height") == 300
    assert await frame.evaluate("f => f.getRootNode().activeElement === f")
    assert await _violations(page, axe) == []


async def test_a_visitors_download_counts_only_once_they_allowed_analytics(
    api, new_tenant, owner_url, servers, browser, settings
):
    from sqlalchemy import select

    from models import UsageEvent

    prices = [("file", {"url": "https://files.example/prices.pdf", "name": "Prices"})]
    t, page, widget = await _open_invitation(
        api, new_tenant, owner_url, servers, browser, settings, blocks=prices
    )
    # a download link that opens nothing in this test: the counting is the widget's
    await page.context.route("https://files.example/**", lambda route: route.abort())
    link = widget.locator(".block-file a")
    assert await link.inner_text() == "Prices"
    await link.click()  # before any choice: not counted
    await asyncio.sleep(0.5)
    assert await _usage(owner_url, t.tenant_id) == 0
    await widget.locator("button[data-consent=allow]").click()
    assert await _usage_recorded(owner_url, t.tenant_id) == 1  # the view
    await link.click()
    for _ in range(100):
        if await _usage(owner_url, t.tenant_id) == 2:
            break
        await asyncio.sleep(0.1)
    async with owner_db(owner_url, t.tenant_id) as db:
        actions = sorted(await db.scalars(select(UsageEvent.action)))
    assert actions == ["download", "view"]


async def test_the_preview_state_is_accessible(api, new_tenant, owner_url, servers, browser, axe):
    # a preview link's own page, and the tenant's page previewing a draft from the fragment
    t, _published = await _world(api, new_tenant, owner_url, servers)
    made = await api(t.token)(PREVIEW, {"input": {"spaceId": servers["draft"]}})
    secret = made["data"]["previewLinkCreate"]["secret"]
    # the link's page allows its own scripts only (CSP): axe is injected past it
    context = await browser.new_context(bypass_csp=True)
    page = await context.new_page()
    await page.goto(f"{servers['api']}/previews/{secret}")
    widget = page.locator("microspace-space")
    await widget.and_(page.locator("[data-state=ready]")).wait_for(timeout=15_000)
    assert await widget.locator("[part=preview]").count() == 1
    assert await _violations(page, axe) == []

    await page.goto(
        f"{servers['page']}/page.html#microspace-preview={secret}"
        f"&microspace-spaceId={servers['draft']}"
    )
    draft = await _ready(page, "#draft")
    assert await draft.locator("[part=preview]").count() == 1
    assert await _violations(page, axe) == []
    await context.close()
