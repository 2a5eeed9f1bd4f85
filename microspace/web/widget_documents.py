"""The documents the reference widget (`/widget.js`) runs, trusted for every tenant.

A widget key or visitor session may run only these and the documents a tenant registered
(microspace/web/persisted.py); the widget sends them by hash, never as text.
"""

from __future__ import annotations

from store.persisted import sha256_of

DOCUMENTS = {
    # the visitor's language as `locale` (docs/content.md, Locales): each block in it, or
    # the nearest along the tenant's chain, and which (`locale`)
    "WidgetSpace": (
        "query WidgetSpace($id: ID!, $after: String, $locale: String) { space(id: $id) { "
        "id title description "
        "brand { primaryColor backgroundColor textColor fontFamily logoUrl cornerRadius } "
        "blocks(first: 100, after: $after, locale: $locale) { "
        "pageInfo { hasNextPage endCursor } "
        "edges { node { id kind position locale body } } } } }"
    ),
    # apart, and only for a space with rich text: WidgetSpace stays compiled (and on the fast
    # lane), the HTML is rendered in Python (core/rich_text.py)
    "WidgetRichText": (
        "query WidgetRichText($id: ID!, $after: String, $locale: String) { space(id: $id) { "
        "blocks(first: 100, after: $after, locale: $locale) { "
        "pageInfo { hasNextPage endCursor } "
        "edges { node { id content { ... on RichTextBody { html } } } } } } }"
    ),
    # apart, and only for a space with files of the library: their signed links are made in
    # Python (files/links.py) per request, while the blocks' content stays compiled
    "WidgetAssets": (
        "query WidgetAssets($ids: [ID!]!) { nodes(ids: $ids) { ... on Asset { id kind "
        "mediaType byteSize width height url srcset placeholder } } }"
    ),
    # live mode (docs/live.md): the widget follows its space and reads it again on each push
    "WidgetSpaceLive": "subscription WidgetSpaceLive($id: ID!) { spaceChanged(id: $id) { id } }",
    "VisitorConsent": (
        "query VisitorConsent($contactId: ID!) { viewer { kind contactId } "
        "contact(id: $contactId) { id consents { purpose state } } }"
    ),
    "VisitorConsentGrant": (
        "mutation VisitorConsentGrant($input: ConsentGrantInput!) { consentGrant(input: $input) "
        "{ consent { purpose granted } userErrors { code message } } }"
    ),
    "VisitorConsentWithdraw": (
        "mutation VisitorConsentWithdraw($input: ConsentWithdrawInput!) { "
        "consentWithdraw(input: $input) { consent { purpose granted } userErrors { code message } } }"
    ),
    "VisitorUsageRecord": (
        "mutation VisitorUsageRecord($input: UsageRecordInput!) { usageRecord(input: $input) "
        "{ recorded userErrors { code message } } }"
    ),
}

# documents an earlier widget.js sent, still trusted: a browser may hold that script for
# its cache time (`/widget.js`, max-age 300) after a deployment
RETIRED = (
    (
        "query WidgetSpace($id: ID!, $after: String) { space(id: $id) { id title description "
        "brand { primaryColor backgroundColor textColor fontFamily logoUrl cornerRadius } "
        "blocks(first: 100, after: $after) { pageInfo { hasNextPage endCursor } "
        "edges { node { id kind position body } } } } }"
    ),
    (
        "query WidgetRichText($id: ID!, $after: String) { space(id: $id) { "
        "blocks(first: 100, after: $after) { pageInfo { hasNextPage endCursor } "
        "edges { node { id content { ... on RichTextBody { html } } } } } } }"
    ),
)

# operation name -> SHA-256 (what widget.js sends); SHA-256 -> document (what the server runs)
HASHES = {name: sha256_of(doc) for name, doc in DOCUMENTS.items()}
SHIPPED = {sha256_of(doc): doc for doc in (*DOCUMENTS.values(), *RETIRED)}
