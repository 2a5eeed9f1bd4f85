/* Microspace reference widget: renders a published space on any page, no framework
 * (docs/widget.md).
 *
 *   <microspace-space space-id="SPACE_ID" style="display:block;min-height:320px"></microspace-space>
 *   <div data-microspace-space="SPACE_ID" style="min-height:320px"></div>
 *   <script src="https://API/widget.js" data-key="msw_..." async></script>
 *
 * Reads go by GET with the hash of a trusted document (no preflight, cacheable).
 * A visitor who arrives from their invitation link (#microspace-visitorToken=...) sees the
 * spaces shared with them; before any analytics they are asked, and declining records
 * nothing. A preview link's secret (the `preview` attribute, the script's data-preview, or
 * #microspace-preview=...&microspace-spaceId=...) shows the space's draft, marked as a
 * preview. Text is written with textContent; rich text is the HTML the API sanitised.
 * Live mode (the element's `live` attribute, or the script's data-live) follows the space
 * over a WebSocket (graphql-transport-ws, docs/live.md) and renders it again on publish.
 */
(function () {
  "use strict";
  var DOCUMENTS = __MICROSPACE_DOCUMENTS__;
  var script = document.currentScript;
  if (!script) return;
  var api = new URL(script.src).origin;
  var scriptKey = script.getAttribute("data-key") || "";
  var scriptPreview = script.getAttribute("data-preview") || "";
  var scriptLive = script.hasAttribute("data-live");
  var STORE = "microspace-visitor";
  var PAGES = 50; // at most 5,000 blocks

  // the widget's own strings; the host page's lang, else the browser's languages, pick one
  var STRINGS = {
    en: ["Loading\u2026", "This space is not available.",
      "May we record that you viewed this space? It helps the sender; nothing is recorded unless you allow it.",
      "Allow", "Decline", "Consent", "done", "to do", "Show content from %s", "Video",
      "Preview: not published", "This preview link is no longer valid."],
    de: ["Wird geladen\u2026", "Dieser Bereich ist nicht verf\u00fcgbar.",
      "D\u00fcrfen wir erfassen, dass Sie diesen Bereich angesehen haben? Das hilft dem Absender; ohne Ihre Erlaubnis wird nichts erfasst.",
      "Erlauben", "Ablehnen", "Einwilligung", "erledigt", "offen", "Inhalt von %s anzeigen", "Video",
      "Vorschau: nicht ver\u00f6ffentlicht", "Dieser Vorschau-Link ist nicht mehr g\u00fcltig."],
    fr: ["Chargement\u2026", "Cet espace n\u2019est pas disponible.",
      "Pouvons-nous enregistrer que vous avez consult\u00e9 cet espace\u00a0? Cela aide l\u2019exp\u00e9diteur\u00a0; rien n\u2019est enregistr\u00e9 sans votre accord.",
      "Autoriser", "Refuser", "Consentement", "fait", "\u00e0 faire", "Afficher le contenu de %s", "Vid\u00e9o",
      "Aper\u00e7u\u00a0: non publi\u00e9", "Ce lien d\u2019aper\u00e7u n\u2019est plus valide."],
    es: ["Cargando\u2026", "Este espacio no est\u00e1 disponible.",
      "\u00bfPodemos registrar que ha visto este espacio? Ayuda al remitente; no se registra nada sin su permiso.",
      "Permitir", "Rechazar", "Consentimiento", "hecho", "pendiente", "Mostrar contenido de %s", "V\u00eddeo",
      "Vista previa: no publicado", "Este enlace de vista previa ya no es v\u00e1lido."],
    nl: ["Laden\u2026", "Deze ruimte is niet beschikbaar.",
      "Mogen we vastleggen dat u deze ruimte hebt bekeken? Dat helpt de afzender; zonder uw toestemming wordt niets vastgelegd.",
      "Toestaan", "Weigeren", "Toestemming", "klaar", "open", "Inhoud van %s tonen", "Video",
      "Voorbeeld: niet gepubliceerd", "Deze voorbeeldlink is niet meer geldig."]
  };
  var RTL = /^(ar|he|iw|fa|ur|ps|sd|ug|yi|dv|ckb)\b/i;

  function language(host) {
    var tagged = host.closest("[lang]");
    var wanted = [tagged ? tagged.getAttribute("lang") : ""].concat(navigator.languages || [navigator.language || ""]);
    for (var i = 0; i < wanted.length; i++) {
      var code = String(wanted[i] || "").toLowerCase().split("-")[0];
      if (STRINGS[code]) return { code: code, lang: wanted[i], t: STRINGS[code] };
      if (i === 0 && RTL.test(code)) break; // a right-to-left page: English, laid out rtl
    }
    return { code: "en", lang: wanted[0] || "en", t: STRINGS.en };
  }

  // the content locale asked for: the host's lang, else the browser's first language, cut
  // to language-script-region (the API serves the nearest the tenant has, or its default)
  function contentLocale(host) {
    var tagged = host.closest("[lang]");
    var tag = String((tagged && tagged.getAttribute("lang")) || (navigator.languages || [])[0] || navigator.language || "");
    var m = /^[a-z]{2,3}(-[a-z]{4})?(-([a-z]{2}|\d{3}))?(?![a-z\d])/i.exec(tag.replace(/_/g, "-"));
    return m ? m[0] : null;
  }

  function visitor() {
    var hash = new URLSearchParams(location.hash.replace(/^#/, ""));
    var token = hash.get("microspace-visitorToken");
    if (token) {
      var session = { token: token, contactId: hash.get("microspace-contactId") };
      try { sessionStorage.setItem(STORE, JSON.stringify(session)); } catch (e) {}
      // the session leaves the address bar (and any later referrer) at once
      history.replaceState(null, "", location.pathname + location.search);
      return session;
    }
    try { return JSON.parse(sessionStorage.getItem(STORE) || "null"); } catch (e) { return null; }
  }

  // a preview link given in the address: kept for the tab, gone from the address bar
  var linked = (function () {
    var hash = new URLSearchParams(location.hash.replace(/^#/, ""));
    var token = hash.get("microspace-preview");
    if (token) {
      var found = { token: token, spaceId: hash.get("microspace-spaceId") };
      try { sessionStorage.setItem(STORE + "-preview", JSON.stringify(found)); } catch (e) {}
      history.replaceState(null, "", location.pathname + location.search);
      return found;
    }
    try { return JSON.parse(sessionStorage.getItem(STORE + "-preview") || "null"); } catch (e) { return null; }
  })();

  // the preview secret for this element: its own, the script's, or the address's for its space
  function previewOf(host, spaceId) {
    var own = host.getAttribute("preview") || scriptPreview;
    if (own) return own;
    if (linked && (!linked.spaceId || linked.spaceId === spaceId)) return linked.token;
    return null;
  }

  function call(key, name, variables, session, method, fresh) {
    var ext = { persistedQuery: { version: 1, sha256Hash: DOCUMENTS[name] } };
    var url = api + "/graphql?key=" + encodeURIComponent(key);
    var init = { method: method, headers: { Accept: "application/json" }, credentials: "omit" };
    // after a push: revalidate (ETag) rather than take the browser's cached copy
    if (fresh) init.cache = "no-cache";
    if (session) init.headers.Authorization = "Bearer " + session.token;
    if (method === "GET") {
      url += "&operationName=" + name + "&variables=" + encodeURIComponent(JSON.stringify(variables)) +
        "&extensions=" + encodeURIComponent(JSON.stringify(ext));
    } else {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify({ operationName: name, variables: variables, extensions: ext });
    }
    return fetch(url, init).then(function (r) { return r.json(); }).then(function (body) {
      if (body.errors && body.errors.length) {
        var error = new Error(body.errors[0].message);
        error.code = (body.errors[0].extensions || {}).code;
        error.data = body.data; // what did answer (a deleted asset is null beside the rest)
        throw error;
      }
      return body.data;
    });
  }

  function el(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text != null) node.textContent = text;
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function safeUrl(url) {
    try { var u = new URL(url); return u.protocol === "https:" || u.protocol === "http:" ? u.href : null; }
    catch (e) { return null; }
  }

  // the library's files a block shows (their own ids: the global ID is "Asset:<id>" in base64url)
  function assetIds(node) {
    var body = node.body || {};
    return (body.items || [body]).map(function (i) { return i.assetId; }).filter(Boolean);
  }
  function globalId(id) { return btoa("Asset:" + id).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""); }

  // an image reserves its box (width and height: no shift), loads when near, and the
  // browser picks from srcset the width the layout needs
  function picture(asset, alt, width, label) {
    if (!asset || !safeUrl(asset.url)) return null;
    if (asset.kind === "VIDEO") return video(asset.url, alt || label);
    // never wider than the image itself: a small one takes its own variant
    var img = el("img", null, { src: asset.url, alt: alt || "", loading: "lazy", decoding: "async", sizes: Math.min(width, asset.width || width) + "px" });
    if (asset.srcset) img.setAttribute("srcset", asset.srcset);
    if (asset.width) { img.setAttribute("width", asset.width); img.setAttribute("height", asset.height); }
    if (asset.placeholder) {
      // blurred while it loads; gone once loaded (a transparent image shows what is behind it)
      img.style.background = "url(" + asset.placeholder + ") center/cover";
      img.addEventListener("load", function () { img.style.background = ""; });
    }
    return img;
  }

  function video(src, label) {
    // the browser's own controls; only its metadata loads before the visitor plays it
    return el("video", null, { src: src, controls: "", preload: "metadata", playsinline: "", "aria-label": label });
  }

  function figure(media, caption) {
    var fig = el("figure");
    if (media) fig.appendChild(media);
    if (caption) fig.appendChild(el("figcaption", caption, { dir: "auto" }));
    return fig;
  }

  function size(bytes, lang) {
    var units = ["byte", "kilobyte", "megabyte", "gigabyte"], i = 0;
    while (bytes >= 1000 && i < 3) { bytes /= 1000; i++; }
    try { return new Intl.NumberFormat(lang, { style: "unit", unit: units[i], maximumFractionDigits: 1 }).format(bytes); }
    catch (e) { return Math.round(bytes) + " " + ["B", "kB", "MB", "GB"][i]; }
  }

  function type(media) {
    var m = String(media || "").toLowerCase(), named = [["pdf", "PDF"], ["word", "DOCX"], ["sheet", "XLSX"], ["presentation", "PPTX"], ["zip", "ZIP"]];
    for (var i = 0; i < named.length; i++) if (m.indexOf(named[i][0]) >= 0) return named[i][1];
    var sub = m.split("/")[1] || "";
    return sub.length && sub.length < 6 ? sub.toUpperCase() : "";
  }

  // a third party's page or video loads only when the visitor asks for it: no request before
  function onClick(wrap, url, t, height, make) {
    var box = el("div", null, { "class": "held", style: "min-height:" + height + "px" });
    var button = el("button", t[8].replace("%s", new URL(url).host), { type: "button", part: "button load" });
    button.addEventListener("click", function () {
      var made = make();
      box.replaceWith(made);
      (made.querySelector("video") || made).focus(); // the focus stays where the button was
    });
    box.appendChild(button);
    wrap.appendChild(box);
  }

  // headings in order: a block's heading never skips a level below the one before it
  function block(b, ctx, levels) {
    var body = b.body || {}, t = ctx.t, content = b.content || {}, assets = ctx.assets;
    var kind = String(b.kind).toLowerCase(); // the GraphQL enum: HEADING, RICH_TEXT, ...
    var wrap = el("div", null, { "class": "block block-" + kind, part: "block " + kind.replace("_", "-"), "data-block-id": b.id });
    var href = safeUrl(body.url), asset = assets[body.assetId];
    if (b.locale) wrap.setAttribute("lang", b.locale); // read aloud in its own language
    if (kind === "heading") {
      var level = Math.min(6, levels.top + Math.max(1, (body.level || 2) - 1), levels.last + 1);
      levels.last = level;
      wrap.appendChild(el("h" + level, body.text, { dir: "auto" }));
    } else if (kind === "rich_text") {
      var rich = el("div", null, { "class": "rich", dir: "auto" });
      // only the API's sanitised HTML (core/rich_text.py) is ever parsed as markup
      if (typeof content.html === "string") rich.innerHTML = content.html;
      else rich.appendChild(el("p", body.text));
      wrap.appendChild(rich);
    } else if (kind === "checklist") {
      var list = el("ul", null, { dir: "auto" });
      (body.items || []).forEach(function (i) {
        var item = el("li");
        item.appendChild(el("span", i.checked ? "\u2611 " : "\u2610 ", { "aria-hidden": "true" }));
        item.appendChild(el("span", i.checked ? t[6] : t[7], { "class": "sr" }));
        item.appendChild(document.createTextNode(" " + i.text));
        list.appendChild(item);
      });
      wrap.appendChild(list);
    } else if (kind === "image") {
      wrap.appendChild(figure(picture(asset, body.decorative ? "" : body.alt, ctx.width), body.caption));
    } else if (kind === "gallery") {
      var grid = el("ul", null, { "class": "gallery", role: "list" });
      var each = Math.round(ctx.width / Math.max(1, Math.floor(ctx.width / 192)));
      (body.items || []).forEach(function (item) {
        var got = assets[item.assetId];
        var li = el("li");
        li.appendChild(figure(picture(got, item.alt || "", each, item.caption || t[9]), item.caption));
        grid.appendChild(li);
      });
      wrap.appendChild(grid);
    } else if (kind === "video") {
      var label = body.caption || t[9];
      if (asset && safeUrl(asset.url)) wrap.appendChild(figure(video(asset.url, label), body.caption));
      else if (href) {
        onClick(wrap, href, t, 240, function () { return video(href, label); });
        if (body.caption) wrap.appendChild(el("p", body.caption, { dir: "auto" }));
      }
    } else if (kind === "embed") {
      if (href) {
        onClick(wrap, href, t, body.height || 360, function () {
          return el("iframe", null, { src: href, title: body.title || new URL(href).host, height: body.height || 360,
            sandbox: "allow-scripts allow-same-origin allow-popups allow-forms allow-presentation", referrerpolicy: "no-referrer", allow: "fullscreen" });
        });
      }
      if (body.title) wrap.insertBefore(el("p", body.title, { dir: "auto" }), wrap.firstChild);
    } else if (kind === "file") {
      var link = asset ? safeUrl(asset.url) : href;
      var bytes = asset ? asset.byteSize : body.sizeBytes, media = asset ? asset.mediaType : body.mimeType;
      if (link) {
        var a = el("a", body.name, { href: link, target: "_blank", rel: "noopener noreferrer", part: "link", dir: "auto" });
        if (asset) a.setAttribute("download", body.name);
        a.addEventListener("click", function () { ctx.downloaded(b.id); });
        wrap.appendChild(a);
        var about = [type(media), bytes != null ? size(Number(bytes), ctx.lang) : ""].filter(Boolean).join(", ");
        if (about) wrap.appendChild(el("span", " (" + about + ")", { "class": "meta" }));
      } else wrap.appendChild(el("span", body.name));
    } else {
      var text = body.label || body.url;
      wrap.appendChild(href ? el("a", text, { href: href, target: "_blank", rel: "noopener noreferrer", part: "link", dir: "auto" }) : el("span", text));
    }
    return wrap;
  }

  // --microspace-* from the host page win over the tenant's brand (--b-*), then defaults
  function v(name, fallback) { return "var(--microspace-" + name + ",var(--b-" + name + "," + fallback + "))"; }
  var PRIMARY = v("primary", "#0b57d0");
  var STYLE = ":host{display:block;contain:content}" +
    ".w{box-sizing:border-box;font:16px/1.5 " + v("font", "system-ui,sans-serif") + ";color:" + v("text", "#1f1f1f") +
    ";background:" + v("background", "#fff") + ";border-radius:" + v("radius", "8px") + ";padding:1rem}" +
    "a{color:" + PRIMARY + "}h2,h3,h4,h5,h6{line-height:1.25;margin:1rem 0 .5rem}" +
    ".logo{display:block;height:40px;width:auto;margin-bottom:.5rem}" +
    ".consent{border:1px solid " + PRIMARY + ";border-radius:" + v("radius", "8px") + ";padding:.75rem;margin:1rem 0}" +
    "button{font:inherit;border:2px solid " + PRIMARY + ";border-radius:" + v("radius", "8px") + ";padding:.4rem 1rem;margin-inline-end:.5rem;cursor:pointer;background:" + v("background", "#fff") + ";color:" + PRIMARY + "}" +
    "button.allow{background:" + PRIMARY + ";color:" + v("on-primary", "#fff") + "}" +
    "button:focus-visible,a:focus-visible,[tabindex]:focus-visible{outline:3px solid " + v("focus", PRIMARY) + ";outline-offset:2px}" +
    ".status{color:" + v("text", "#1f1f1f") + "}.error{color:#a00000}" +
    ".loading{animation:p 1.5s ease-in-out infinite alternate}@keyframes p{to{opacity:.75}}" +
    "@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important;scroll-behavior:auto!important}}" +
    ".preview{display:inline-block;margin:0 0 .5rem;padding:.1rem .6rem;border:2px dashed #8a5a00;border-radius:" + v("radius", "8px") + ";color:#6b4500;background:#fff8e1;font-weight:600}" +
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}" +
    "ul{padding-inline-start:1.25rem}.block-checklist ul{list-style:none;padding-inline-start:0}" +
    "figure{margin:1rem 0}img,video,iframe{display:block;max-width:100%;border:0}img{height:auto}video{width:100%;height:auto;aspect-ratio:16/9;background:#000}iframe{width:100%}" +
    ".gallery{list-style:none;padding:0;display:grid;gap:.5rem;grid-template-columns:repeat(auto-fill,minmax(11rem,1fr))}.gallery figure{margin:0}" +
    ".held{display:flex;align-items:center;justify-content:center;border:1px dashed;border-radius:" + v("radius", "8px") + "}.meta{opacity:.85}";
  var BRAND = { primaryColor: "primary", backgroundColor: "background", textColor: "text", fontFamily: "font" };

  function applyBrand(wrap, brand) {
    if (!brand) return;
    Object.keys(BRAND).forEach(function (k) { if (brand[k]) wrap.style.setProperty("--b-" + BRAND[k], brand[k]); });
    if (brand.cornerRadius != null) wrap.style.setProperty("--b-radius", brand.cornerRadius + "px");
  }

  function consentBar(ctx) {
    var t = ctx.t, id = "c" + Math.random().toString(36).slice(2);
    var bar = el("div", null, { "class": "consent", part: "consent", role: "group", "aria-labelledby": id, lang: ctx.lang });
    bar.appendChild(el("p", t[2], { id: id }));
    var allow = el("button", t[3], { type: "button", "class": "allow", "data-consent": "allow", part: "button allow" });
    var decline = el("button", t[4], { type: "button", "data-consent": "decline", part: "button decline" });
    bar.appendChild(allow);
    bar.appendChild(decline);
    ctx.article.appendChild(bar);
    // the choice made, focus goes back to the space rather than to nowhere
    function done() { bar.remove(); ctx.title.focus(); }
    decline.addEventListener("click", function () {
      done();
      try { sessionStorage.setItem(STORE + "-declined", "1"); } catch (e) {}
    });
    allow.addEventListener("click", function () {
      done();
      var input = { contactId: ctx.session.contactId, purpose: "ANALYTICS", policyVersion: "widget-1", source: "WIDGET" };
      call(ctx.key, "VisitorConsentGrant", { input: input }, ctx.session, "POST").then(function () {
        return recordView(ctx);
      });
    });
  }

  function recordView(ctx) {
    ctx.consented = true;
    return call(ctx.key, "VisitorUsageRecord", { input: { contactId: ctx.session.contactId, spaceId: ctx.spaceId } }, ctx.session, "POST");
  }

  function analytics(ctx) {
    var declined = false;
    try { declined = sessionStorage.getItem(STORE + "-declined") === "1"; } catch (e) {}
    if (declined) return;
    call(ctx.key, "VisitorConsent", { contactId: ctx.session.contactId }, ctx.session, "GET").then(function (data) {
      var consents = (data.contact && data.contact.consents) || [];
      var found = consents.filter(function (c) { return c.purpose === "ANALYTICS"; })[0];
      var state = found ? found.state : "NOT_GIVEN";
      if (state === "GRANTED") return recordView(ctx);
      if (state === "WITHDRAWN") return null; // they said no: do not ask again
      consentBar(ctx);
    });
  }

  // every page of blocks before anything is drawn: the space grows once, not per page
  function pages(key, name, spaceId, session, fresh, locale) {
    var space, edges = [];
    function page(after, left) {
      return call(key, name, { id: spaceId, after: after, locale: locale }, session, "GET", fresh).then(function (data) {
        space = space || data.space;
        var blocks = data.space.blocks;
        edges = edges.concat(blocks.edges);
        if (blocks.pageInfo.hasNextPage && left > 1) return page(blocks.pageInfo.endCursor, left - 1);
      });
    }
    return page(null, PAGES).then(function () { return { space: space, edges: edges }; });
  }

  // rich text's HTML and the library's signed links are second reads (the resolvers'),
  // each made only when the space has such blocks; the first stays compiled
  function load(key, spaceId, session, fresh, locale) {
    return pages(key, "WidgetSpace", spaceId, session, fresh, locale).then(function (loaded) {
      var nodes = loaded.edges.map(function (e) { return e.node; }), ids = {}, batches = [];
      loaded.assets = {};
      nodes.forEach(function (n) { if (/^(IMAGE|GALLERY|FILE|VIDEO)$/.test(n.kind)) assetIds(n).forEach(function (i) { ids[i] = 1; }); });
      Object.keys(ids).forEach(function (id, n) { if (n % 50 === 0) batches.push([]); batches[batches.length - 1].push(globalId(id)); });
      var reads = batches.map(function (batch) {
        return call(key, "WidgetAssets", { ids: batch }, session, "GET", fresh).catch(function (e) { return (e.data && e.data.nodes) ? e.data : { nodes: [] }; }).then(function (data) {
          // an asset deleted since is null: its block shows what it can without it
          data.nodes.forEach(function (a, n) { if (a) loaded.assets[atob(batch[n].replace(/-/g, "+").replace(/_/g, "/")).slice(6)] = a; });
        });
      });
      if (nodes.some(function (n) { return n.kind === "RICH_TEXT"; })) {
        reads.push(pages(key, "WidgetRichText", spaceId, session, fresh, locale).then(function (rich) {
          var html = {};
          rich.edges.forEach(function (e) { html[e.node.id] = e.node.content; });
          nodes.forEach(function (n) { n.content = html[n.id]; });
        }));
      }
      return Promise.all(reads).then(function () { return loaded; });
    });
  }

  function render(host, fresh) {
    var spaceId = host.getAttribute("space-id") || host.getAttribute("data-microspace-space");
    var key = host.getAttribute("key") || scriptKey;
    var root = host.shadowRoot || host.attachShadow({ mode: "open" });
    var lang = language(host);
    var t = lang.t;
    var generation = (host._microspace = (host._microspace || 0) + 1);
    root.textContent = "";
    root.appendChild(el("style", STYLE));
    var wrap = el("div", null, { "class": "w", dir: RTL.test(lang.lang) ? "rtl" : "ltr" });
    var status = el("p", t[0], { "class": "status loading", part: "status", role: "status", lang: lang.code });
    wrap.appendChild(status);
    root.appendChild(wrap);
    var preview = spaceId ? previewOf(host, spaceId) : null;
    // a preview reads the draft with its own secret: no visitor, no analytics
    var session = preview ? { token: preview } : visitor();
    if (preview) host.setAttribute("data-preview", "");
    else host.removeAttribute("data-preview");
    host.setAttribute("data-state", "loading");
    if (!spaceId) return;
    load(key, spaceId, session, fresh, contentLocale(host)).then(function (loaded) {
      if (generation !== host._microspace) return; // the element was pointed elsewhere
      var space = loaded.space;
      var top = Math.min(5, Math.max(1, parseInt(host.getAttribute("heading-level"), 10) || 2));
      applyBrand(wrap, space.brand);
      // the space's own text decides its direction (an Arabic space is right to left)
      var article = el("article", null, { "class": "space", part: "space", dir: "auto", "aria-labelledby": "t" });
      if (preview) article.appendChild(el("p", t[10], { "class": "preview", part: "preview", role: "note", lang: lang.code }));
      if (space.brand && safeUrl(space.brand.logoUrl)) {
        article.appendChild(el("img", null, { "class": "logo", part: "logo", src: safeUrl(space.brand.logoUrl), alt: "" }));
      }
      var title = el("h" + top, space.title, { id: "t", part: "title", tabindex: "-1" });
      article.appendChild(title);
      if (space.description) article.appendChild(el("p", space.description, { "class": "description", part: "description" }));
      var levels = { top: top, last: top };
      var ctx = { key: key, t: t, lang: lang.code, article: article, title: title, session: session, spaceId: space.id,
        width: Math.round(wrap.clientWidth - 32) || 640, consented: false, assets: loaded.assets };
      // a visitor's download is counted like a view: only once they allowed analytics
      ctx.downloaded = function (blockId) {
        if (!ctx.consented) return;
        var input = { contactId: session.contactId, spaceId: space.id, blockId: blockId, action: "DOWNLOAD" };
        call(key, "VisitorUsageRecord", { input: input }, session, "POST").catch(function () {});
      };
      loaded.edges.forEach(function (edge) { article.appendChild(block(edge.node, ctx, levels)); });
      wrap.replaceChild(article, status);
      host.setAttribute("data-state", "ready");
      // a view is recorded once per page, not again at each live refresh
      if (session && session.contactId && !fresh) analytics(ctx);
      follow(host, key, space.id, session);
    }).catch(function (error) {
      if (generation !== host._microspace) return;
      var dead = preview && /^PREVIEW_LINK_/.test(error.code || "");
      wrap.replaceChild(el("p", dead ? t[11] : t[1], { "class": "status error", part: "status error", role: "status", lang: lang.code }), status);
      host.setAttribute("data-state", "error");
      host.setAttribute("data-error", error.code || "NETWORK");
      // a space not (or no longer) published appears once it is
      if (error.code === "NOT_FOUND") follow(host, key, spaceId, session);
    });
  }

  // live mode: one socket per element, re-rendering on each `next`; a credential refused
  // (4401, 4403), a bad request or protocol (4400, 4406) ends it, anything else reconnects
  function follow(host, key, spaceId, session) {
    if (!window.WebSocket || !(host.hasAttribute("live") || scriptLive)) return;
    if (host._microspaceLive && host._microspaceLive.spaceId === spaceId) return;
    unfollow(host);
    var live = { spaceId: spaceId, closed: false, tries: 0, ws: null };
    host._microspaceLive = live;
    var token = session ? session.token : key;
    function open() {
      if (live.closed) return;
      var ws = (live.ws = new WebSocket(api.replace(/^http/, "ws") + "/graphql?key=" + encodeURIComponent(key), "graphql-transport-ws"));
      ws.onopen = function () {
        ws.send(JSON.stringify({ type: "connection_init", payload: { authorization: "Bearer " + token } }));
      };
      ws.onmessage = function (m) {
        var msg = JSON.parse(m.data);
        if (msg.type === "connection_ack") {
          live.tries = 0;
          var ext = { persistedQuery: { version: 1, sha256Hash: DOCUMENTS.WidgetSpaceLive } };
          ws.send(JSON.stringify({ id: "1", type: "subscribe", payload: { operationName: "WidgetSpaceLive", variables: { id: spaceId }, extensions: ext } }));
        } else if (msg.type === "ping") {
          ws.send('{"type":"pong"}');
        } else if (msg.type === "next" && host.isConnected) {
          render(host, true);
        }
      };
      ws.onclose = function (e) {
        if (live.closed || [4400, 4401, 4403, 4406].indexOf(e.code) >= 0) return;
        live.tries += 1;
        setTimeout(open, Math.min(30000, 500 * Math.pow(2, live.tries)) * (0.5 + Math.random() / 2));
      };
    }
    open();
  }
  function unfollow(host) {
    var live = host._microspaceLive;
    if (!live) return;
    live.closed = true;
    if (live.ws) live.ws.close(1000);
    host._microspaceLive = null;
  }

  if (window.customElements && !customElements.get("microspace-space")) {
    customElements.define("microspace-space", class extends HTMLElement {
      static get observedAttributes() { return ["space-id"]; }
      connectedCallback() { render(this); }
      disconnectedCallback() { unfollow(this); }
      attributeChangedCallback(_name, before, after) { if (this.isConnected && before !== null && before !== after) render(this); }
    });
  }
  var hosts = document.querySelectorAll("[data-microspace-space]");
  for (var i = 0; i < hosts.length; i++) render(hosts[i]);
})();
