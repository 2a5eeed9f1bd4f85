"""GraphQL over HTTP, strictly: body size, methods, media types, no batching.

Only `POST` with `Content-Type: application/json` runs operations (a browser cannot send
that cross-site without a CORS preflight, which is what stops CSRF); `GET` runs queries
only when configured, never mutations. The one exception, file uploads by the GraphQL
multipart request specification: `multipart/form-data` is a type a cross-site form can
send, so such a request must also carry a header no form can (`Authorization`, or
`GraphQL-Preflight`), and it takes ambient credentials from nowhere. Responses are `application/graphql-response+json`
when the client accepts it (request errors then get status 400), else `application/json`.
A query answered over GET gets its caching headers, and 304, from `get_caching`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope
from strawberry.http import GraphQLRequestData
from xxhash import xxh3_128_hexdigest

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


MULTIPART = "multipart/form-data"
# most files (and form fields) one multipart request may carry
MULTIPART_MAX_FILES = 10


def is_multipart(content_type: str | None) -> bool:
    return media_type(content_type) == MULTIPART


def check_multipart_headers(headers: Mapping[str, str]) -> None:
    """CSRF: a multipart request is a "simple" request a cross-site page can send; one with
    `Authorization` or `GraphQL-Preflight` is not (the browser asks CORS first)."""
    if not (headers.get("authorization") or headers.get("graphql-preflight")):
        raise Refusal(
            400,
            "PREFLIGHT_REQUIRED",
            "A multipart request needs an `Authorization` header or a `GraphQL-Preflight: 1` "
            "header (which a cross-site form cannot send).",
        )


def parse_multipart(form: Mapping[str, Any]) -> GraphQLRequestData:
    """One operation from a GraphQL multipart request: `operations` (the JSON body), `map`
    (which file goes to which variable) and the files. Every file replaces a `null` at a
    path under `variables`; anything else is a coded refusal."""
    data = _form_json(form, "operations")
    files = _form_json(form, "map")
    if not isinstance(data, dict) or not isinstance(files, dict):
        raise Refusal(400, "BAD_REQUEST", "`operations` and `map` must be JSON objects.")
    variables = data.get("variables")
    for name, paths in files.items():
        upload = form.get(name)
        if upload is None or isinstance(upload, str):
            raise Refusal(400, "BAD_REQUEST", f"The map names a file `{name}` not sent.")
        if not isinstance(paths, list) or not paths:
            raise Refusal(400, "BAD_REQUEST", f"The map's entry `{name}` must list paths.")
        for path in paths:
            _place(variables, path, upload)
    return operation(data)


def _form_json(form: Mapping[str, Any], name: str) -> Any:
    raw = form.get(name)
    if not isinstance(raw, str):
        raise Refusal(400, "BAD_REQUEST", f"A multipart request needs the `{name}` field.")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise Refusal(400, "INVALID_JSON", f"`{name}` is not valid JSON.") from None


def _place(variables: Any, path: Any, upload: Any) -> None:
    keys = path.split(".") if isinstance(path, str) else []
    if len(keys) < 2 or keys[0] != "variables":
        raise Refusal(400, "BAD_REQUEST", "A file's path must name a variable: `variables.x`.")
    target = variables
    for key in keys[1:-1]:
        target = _step(target, key)
    last = keys[-1]
    if isinstance(target, list) and last.isdigit() and int(last) < len(target):
        index: Any = int(last)
    elif isinstance(target, dict) and last in target:
        index = last
    else:
        raise Refusal(400, "BAD_REQUEST", f"The path `{path}` names no variable.")
    if target[index] is not None:
        raise Refusal(400, "BAD_REQUEST", f"The variable at `{path}` must be null.")
    target[index] = upload


def _step(target: Any, key: str) -> Any:
    if isinstance(target, dict) and key in target:
        return target[key]
    if isinstance(target, list) and key.isdigit() and int(key) < len(target):
        return target[int(key)]
    raise Refusal(400, "BAD_REQUEST", "A file's path names no variable.")


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


# every GraphQL answer the API writes puts `errors` first, as the GraphQL spec advises
# (microspace/web/strawberry_adapter.py `process_result`, `error_response` here; the fast
# lane answers none)
_ERRORS_FIRST = b'{"errors":'


def names_errors(body: bytes) -> bool:
    """Whether an answer holds GraphQL errors: its first key is `errors`. A key named
    `errors` deeper in the answer (an alias, a block body's own) is data. Reading the first
    bytes only: searching q2's 260 KB answer for the key cost 40 us."""
    return body.startswith(_ERRORS_FIRST)


def etag_of(body: bytes) -> str:
    """A strong tag of the body: its 128-bit XXH3 (docs/caching.md). Not a cryptographic
    hash: a tag only has to tell one answer of a URL and credential from the next, and a
    SHA-256 cost q2's 326 KB answer 243 us of CPU, XXH3 16 us."""
    return '"' + xxh3_128_hexdigest(body) + '"'


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
    a 304. Personal data, visitors' and previews' answers are `private, no-store` (a draft,
    and a revoked preview must stop showing it at once); a widget's reads are
    public for `widget_max_age` seconds; other reads `private, no-cache` (stored by the
    browser only, revalidated by ETag each time). Errors are never stored.
    """
    if status != 200 or names_errors(body):
        return Caching(status, {"Cache-Control": "no-store", "Vary": VARY})
    if personal or caller in ("visitor", "preview"):
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
