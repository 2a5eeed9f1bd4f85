"""GraphQL over HTTP, strictly: body size, methods, media types, no batching.

Only `POST` with `Content-Type: application/json` runs operations (a browser cannot send
that cross-site without a CORS preflight, which is what stops CSRF); `GET` runs queries
only when configured, never mutations. Responses are `application/graphql-response+json`
when the client accepts it (request errors then get status 400), else `application/json`.
A query answered over GET gets its caching headers, and 304, from `get_caching`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope
from strawberry.http import GraphQLRequestData

GRAPHQL_RESPONSE = "application/graphql-response+json"


class Refusal(Exception):
    """A request refused at the HTTP layer, answered with `status` and one coded error."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.extensions = extensions

    def response(self) -> JSONResponse:
        return error_response(self.status, self.code, self.message, self.headers, **self.extensions)


def error_response(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body = {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


RETRY_AFTER_UNAVAILABLE = 5


def service_unavailable(request_id: str) -> JSONResponse:
    """The database cannot be reached: a 503 that tells clients when to try again."""
    return error_response(
        503,
        "SERVICE_UNAVAILABLE",
        "The service is temporarily unavailable; retry shortly. "
        f"Quote request id {request_id} to the operator if it persists.",
        {"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
        requestId=request_id,
        retryAfter=RETRY_AFTER_UNAVAILABLE,
    )


def body_too_large(limit: int) -> Refusal:
    return Refusal(
        413, "BODY_SIZE_LIMIT", f"The request body may be at most {limit} bytes.", limit=limit
    )


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, refusing (413) as soon as it is known to exceed `limit`."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise Refusal(400, "BAD_REQUEST", "Invalid Content-Length header.") from None
            if declared > limit:
                raise body_too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise body_too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes) -> Receive:
    """A `receive` that hands the already-read body to the view once."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


def wants_graphql_response(accept: str | None) -> bool:
    return GRAPHQL_RESPONSE in (accept or "").lower()


def parse_post(content_type: str | None, body: bytes) -> GraphQLRequestData:
    """One operation from a JSON body; anything else is refused with a coded error."""
    if media_type(content_type) != "application/json":
        # form posts and text/plain are what a cross-site page can send without preflight
        raise Refusal(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "Send the operation as JSON with `Content-Type: application/json`.",
            {"Accept": "application/json"},
        )
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise Refusal(400, "INVALID_JSON", "The request body is not valid JSON.") from None
    return operation(data)


def parse_get(params: Mapping[str, str]) -> GraphQLRequestData:
    data: dict[str, Any] = {k: params[k] for k in ("query", "operationName") if k in params}
    for key in ("variables", "extensions"):
        raw = params.get(key)
        if raw:
            try:
                data[key] = json.loads(raw)
            except (ValueError, RecursionError):
                raise Refusal(400, "INVALID_JSON", f"`{key}` is not valid JSON.") from None
    return operation(data)


def persisted_query(extensions: Mapping[str, Any] | None) -> bool:
    """Whether the request names its document by hash (`extensions.persistedQuery`)."""
    return bool(extensions) and "persistedQuery" in (extensions or {})


def operation(data: Any) -> GraphQLRequestData:
    if isinstance(data, list):
        raise Refusal(
            400,
            "BATCHING_NOT_SUPPORTED",
            "Send one operation per request; batched (array) requests are not supported.",
        )
    if not isinstance(data, dict):
        raise Refusal(400, "BAD_REQUEST", "The request body must be a JSON object.")
    query = data.get("query")
    variables = data.get("variables")
    if not isinstance(variables, (dict, type(None))):
        raise Refusal(400, "BAD_REQUEST", "`variables` must be an object or null.")
    extensions = data.get("extensions")
    if not isinstance(extensions, (dict, type(None))):
        raise Refusal(400, "BAD_REQUEST", "`extensions` must be an object or null.")
    if query is None and persisted_query(extensions):
        pass  # sent by hash: microspace/web/persisted.py finds the document
    elif not isinstance(query, str) or not query.strip():
        raise Refusal(400, "BAD_REQUEST", "The request has no `query` string.")
    name = data.get("operationName")
    if not isinstance(name, (str, type(None))):
        raise Refusal(400, "BAD_REQUEST", "`operationName` must be a string or null.")
    return GraphQLRequestData(
        query=query,
        variables=variables,
        operation_name=name,
        extensions=extensions,
        protocol="http",
    )


# -- HTTP caching of queries answered over GET (docs/caching.md) ----------------------------

# RFC 9110 section 8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; a list is comma-separated
_ENTITY_TAG = re.compile(r'[\s,]*(?:W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)')
# what the answer depends on besides the URL: the media type (by Accept) and the credential
VARY = "Accept, Authorization"


@dataclass(frozen=True)
class Caching:
    """How to answer a GET: `status` 200 with the body, or 304 without one; `headers` to set
    either way (RFC 9110 section 15.4.5: a 304 carries the 200's ETag, Cache-Control and Vary)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def none_match(header: str | None, etag: str) -> bool:
    """Whether `If-None-Match` names the current representation: weak comparison (RFC 9110
    section 13.1.2, `W/` ignored on both sides), any tag of a list, or `*`."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    at = 0
    while at < len(header):
        match = _ENTITY_TAG.match(header, at)
        if match is None:
            return False  # not a list of entity tags: no precondition to honour
        if '"' + match.group(1) + '"' == opaque:
            return True
        at = match.end()
    return False


def get_caching(
    request_headers: Mapping[str, str],
    body: bytes,
    *,
    status: int,
    caller: str,
    personal: bool,
    widget_max_age: int,
) -> Caching:
    """The caching of one GraphQL answer to a GET, from what it is and who asked.

    `caller` is the principal's kind (member, partner, widget, visitor, anonymous, ...);
    `personal`: the answer discloses personal data (an audited read). Only a 200 without
    GraphQL errors is a representation: it gets an ETag and `If-None-Match` can turn it into
    a 304. Personal data and visitors' answers are `private, no-store`; a widget's reads are
    public for `widget_max_age` seconds; other reads `private, no-cache` (stored by the
    browser only, revalidated by ETag each time). Errors are never stored.
    """
    # a top-level `"errors":` key, as compact JSON writes it (a nested field aliased
    # `errors` also matches: then the answer is just not stored)
    if status != 200 or b'"errors":' in body:
        return Caching(status, {"Cache-Control": "no-store", "Vary": VARY})
    if personal or caller == "visitor":
        policy = "private, no-store"
    elif caller == "widget":
        policy = f"public, max-age={widget_max_age}"
    else:
        policy = "private, no-cache"
    etag = etag_of(body)
    headers = {"Cache-Control": policy, "ETag": etag, "Vary": VARY}
    if none_match(request_headers.get("if-none-match"), etag):
        return Caching(304, headers)
    return Caching(200, headers)
