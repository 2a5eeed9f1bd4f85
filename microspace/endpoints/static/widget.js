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
 * nothing. Text is written with textContent; rich text is the HTML the API sanitised.
 */
(function () {
  "use strict";
  var DOCUMENTS = __MICROSPACE_DOCUMENTS__;
  var script = document.currentScript;
  if (!script) return;
  var api = new URL(script.src).origin;
  var scriptKey = script.getAttribute("data-key") || "";
  var STORE = "microspace-visitor";
  var PAGES = 50; // at most 5,000 blocks

  // the widget's own strings; the host page's lang, else the browser's languages, pick one
  var STRINGS = {
    en: ["Loading\u2026", "This space is not available.",
      "May we record that you viewed this space? It helps the sender; nothing is recorded unless you allow it.",
      "Allow", "Decline", "Consent", "done", "to do"],
    de: ["Wird geladen\u2026", "Dieser Bereich ist nicht verf\u00fcgbar.",
      "D\u00fcrfen wir erfassen, dass Sie diesen Bereich angesehen haben? Das hilft dem Absender; ohne Ihre Erlaubnis wird nichts erfasst.",
      "Erlauben", "Ablehnen", "Einwilligung", "erledigt", "offen"],
    fr: ["Chargement\u2026", "Cet espace n\u2019est pas disponible.",
      "Pouvons-nous enregistrer que vous avez consult\u00e9 cet espace\u00a0? Cela aide l\u2019exp\u00e9diteur\u00a0; rien n\u2019est enregistr\u00e9 sans votre accord.",
      "Autoriser", "Refuser", "Consentement", "fait", "\u00e0 faire"],
    es: ["Cargando\u2026", "Este espacio no est\u00e1 disponible.",
      "\u00bfPodemos registrar que ha visto este espacio? Ayuda al remitente; no se registra nada sin su permiso.",
      "Permitir", "Rechazar", "Consentimiento", "hecho", "pendiente"],
    nl: ["Laden\u2026", "Deze ruimte is niet beschikbaar.",
      "Mogen we vastleggen dat u deze ruimte hebt bekeken? Dat helpt de afzender; zonder uw toestemming wordt niets vastgelegd.",
      "Toestaan", "Weigeren", "Toestemming", "klaar", "open"]
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

  function call(key, name, variables, session, method) {
    var ext = { persistedQuery: { version: 1, sha256Hash: DOCUMENTS[name] } };
    var url = api + "/graphql?key=" + encodeURIComponent(key);
    var init = { method: method, headers: { Accept: "application/json" }, credentials: "omit" };
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

  // headings in order: a block's heading never skips a level below the one before it
  function block(b, t, levels) {
    var body = b.body || {};
    var kind = String(b.kind).toLowerCase(); // the GraphQL enum: HEADING, RICH_TEXT, ...
    var wrap = el("div", null, { "class": "block block-" + kind, part: "block " + kind.replace("_", "-"), "data-block-id": b.id });
    if (kind === "heading") {
      var level = Math.min(6, levels.top + Math.max(1, (body.level || 2) - 1), levels.last + 1);
      levels.last = level;
      wrap.appendChild(el("h" + level, body.text, { dir: "auto" }));
    } else if (kind === "rich_text") {
      var rich = el("div", null, { "class": "rich", dir: "auto" });
      // only the API's sanitised HTML (core/rich_text.py) is ever parsed as markup
      if (b.content && typeof b.content.html === "string") rich.innerHTML = b.content.html;
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
    } else {
      var href = safeUrl(body.url);
      var label = body.label || body.name || body.title || body.caption || body.url;
      wrap.appendChild(href ? el("a", label, { href: href, target: "_blank", rel: "noopener noreferrer", part: "link", dir: "auto" }) : el("span", label));
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
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}" +
    "ul{padding-inline-start:1.25rem}.block-checklist ul{list-style:none;padding-inline-start:0}";
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
  function pages(key, name, spaceId, session) {
    var space, edges = [];
    function page(after, left) {
      return call(key, name, { id: spaceId, after: after }, session, "GET").then(function (data) {
        space = space || data.space;
        var blocks = data.space.blocks;
        edges = edges.concat(blocks.edges);
        if (blocks.pageInfo.hasNextPage && left > 1) return page(blocks.pageInfo.endCursor, left - 1);
      });
    }
    return page(null, PAGES).then(function () { return { space: space, edges: edges }; });
  }

  // rich text's HTML is a second read, made only when the space has rich text
  function load(key, spaceId, session) {
    return pages(key, "WidgetSpace", spaceId, session).then(function (loaded) {
      if (!loaded.edges.some(function (e) { return e.node.kind === "RICH_TEXT"; })) return loaded;
      return pages(key, "WidgetRichText", spaceId, session).then(function (rich) {
        var html = {};
        rich.edges.forEach(function (e) { html[e.node.id] = e.node.content; });
        loaded.edges.forEach(function (e) { e.node.content = html[e.node.id]; });
        return loaded;
      });
    });
  }

  function render(host) {
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
    var session = visitor();
    host.setAttribute("data-state", "loading");
    if (!spaceId) return;
    load(key, spaceId, session).then(function (loaded) {
      if (generation !== host._microspace) return; // the element was pointed elsewhere
      var space = loaded.space;
      var top = Math.min(5, Math.max(1, parseInt(host.getAttribute("heading-level"), 10) || 2));
      applyBrand(wrap, space.brand);
      // the space's own text decides its direction (an Arabic space is right to left)
      var article = el("article", null, { "class": "space", part: "space", dir: "auto", "aria-labelledby": "t" });
      if (space.brand && safeUrl(space.brand.logoUrl)) {
        article.appendChild(el("img", null, { "class": "logo", part: "logo", src: safeUrl(space.brand.logoUrl), alt: "" }));
      }
      var title = el("h" + top, space.title, { id: "t", part: "title", tabindex: "-1" });
      article.appendChild(title);
      if (space.description) article.appendChild(el("p", space.description, { "class": "description", part: "description" }));
      var levels = { top: top, last: top };
      loaded.edges.forEach(function (edge) { article.appendChild(block(edge.node, t, levels)); });
      wrap.replaceChild(article, status);
      host.setAttribute("data-state", "ready");
      if (session && session.contactId) {
        analytics({ key: key, t: t, lang: lang.code, article: article, title: title, session: session, spaceId: space.id });
      }
    }).catch(function (error) {
      if (generation !== host._microspace) return;
      wrap.replaceChild(el("p", t[1], { "class": "status error", part: "status error", role: "status", lang: lang.code }), status);
      host.setAttribute("data-state", "error");
      host.setAttribute("data-error", error.code || "NETWORK");
    });
  }

  if (window.customElements && !customElements.get("microspace-space")) {
    customElements.define("microspace-space", class extends HTMLElement {
      static get observedAttributes() { return ["space-id"]; }
      connectedCallback() { render(this); }
      attributeChangedCallback(_name, before, after) { if (this.isConnected && before !== null && before !== after) render(this); }
    });
  }
  var hosts = document.querySelectorAll("[data-microspace-space]");
  for (var i = 0; i < hosts.length; i++) render(hosts[i]);
})();
