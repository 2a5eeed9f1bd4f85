/* Microspace reference widget: renders a published space on any page, no framework.
 *
 *   <div data-microspace-space="SPACE_ID"></div>
 *   <script src="https://API/widget.js" data-key="msw_..." async></script>
 *
 * Reads go by GET with the hash of a trusted document (no preflight, cacheable).
 * A visitor who arrives from their invitation link (#microspace-visitorToken=...) sees the
 * spaces shared with them; before any analytics they are asked, and declining records
 * nothing. Content is written with textContent only: a block can never inject markup.
 */
(function () {
  "use strict";
  var DOCUMENTS = __MICROSPACE_DOCUMENTS__;
  var script = document.currentScript;
  if (!script) return;
  var api = new URL(script.src).origin;
  var key = script.getAttribute("data-key") || "";
  var STORE = "microspace-visitor";

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

  function call(name, variables, session, method) {
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

  function block(b) {
    var body = b.body || {};
    var kind = String(b.kind).toLowerCase(); // the GraphQL enum: HEADING, RICH_TEXT, ...
    var wrap = el("div", null, { "class": "block block-" + kind, "data-block-id": b.id });
    if (kind === "heading") wrap.appendChild(el("h" + Math.min(6, Math.max(2, body.level || 2)), body.text));
    else if (kind === "rich_text") wrap.appendChild(el("p", body.text));
    else if (kind === "checklist") {
      var list = el("ul");
      (body.items || []).forEach(function (i) { list.appendChild(el("li", (i.checked ? "\u2611 " : "\u2610 ") + i.text)); });
      wrap.appendChild(list);
    } else {
      var href = safeUrl(body.url);
      var label = body.label || body.name || body.title || body.caption || body.url;
      wrap.appendChild(href ? el("a", label, { href: href, target: "_blank", rel: "noopener noreferrer" }) : el("span", label));
    }
    return wrap;
  }

  var STYLE = ":host{display:block;font:16px/1.5 system-ui,sans-serif}" +
    ".consent{border:1px solid #ccc;padding:8px;margin:8px 0}.consent button{margin-right:8px}" +
    ".error{color:#a00}";

  function consentBar(root, spaceId, session) {
    var bar = el("div", null, { "class": "consent", role: "dialog" });
    bar.appendChild(el("p", "May we record that you viewed this space? It helps the sender; nothing is recorded unless you allow it."));
    var allow = el("button", "Allow", { type: "button", "data-consent": "allow" });
    var decline = el("button", "Decline", { type: "button", "data-consent": "decline" });
    bar.appendChild(allow);
    bar.appendChild(decline);
    root.appendChild(bar);
    decline.addEventListener("click", function () {
      bar.remove();
      try { sessionStorage.setItem(STORE + "-declined", "1"); } catch (e) {}
    });
    allow.addEventListener("click", function () {
      bar.remove();
      var input = { contactId: session.contactId, purpose: "ANALYTICS", policyVersion: "widget-1", source: "WIDGET" };
      call("VisitorConsentGrant", { input: input }, session, "POST").then(function () {
        return recordView(spaceId, session);
      });
    });
  }

  function recordView(spaceId, session) {
    return call("VisitorUsageRecord", { input: { contactId: session.contactId, spaceId: spaceId } }, session, "POST");
  }

  function analytics(root, spaceId, session) {
    var declined = false;
    try { declined = sessionStorage.getItem(STORE + "-declined") === "1"; } catch (e) {}
    if (declined) return;
    call("VisitorConsent", { contactId: session.contactId }, session, "GET").then(function (data) {
      var consents = (data.contact && data.contact.consents) || [];
      var analytics = consents.filter(function (c) { return c.purpose === "ANALYTICS"; })[0];
      var state = analytics ? analytics.state : "NOT_GIVEN";
      if (state === "GRANTED") return recordView(spaceId, session);
      if (state === "WITHDRAWN") return null; // they said no: do not ask again
      consentBar(root, spaceId, session);
    });
  }

  function render(host) {
    var spaceId = host.getAttribute("data-microspace-space");
    var root = host.shadowRoot || host.attachShadow({ mode: "open" });
    root.appendChild(el("style", STYLE));
    var session = visitor();
    host.setAttribute("data-state", "loading");
    call("WidgetSpace", { id: spaceId }, session, "GET").then(function (data) {
      var space = data.space;
      var article = el("article", null, { "class": "space" });
      article.appendChild(el("h1", space.title));
      if (space.description) article.appendChild(el("p", space.description, { "class": "description" }));
      space.blocks.edges.forEach(function (edge) { article.appendChild(block(edge.node)); });
      root.appendChild(article);
      host.setAttribute("data-state", "ready");
      if (session && session.contactId) analytics(root, space.id, session);
    }).catch(function (error) {
      root.appendChild(el("p", "This space is not available.", { "class": "error" }));
      host.setAttribute("data-state", "error");
      host.setAttribute("data-error", error.code || "NETWORK");
    });
  }

  var hosts = document.querySelectorAll("[data-microspace-space]");
  for (var i = 0; i < hosts.length; i++) render(hosts[i]);
})();
