"""Everything the application borrows from Strawberry's HTTP view, in one place.

`StrawberryView` overrides a few methods of Strawberry's ASGI `GraphQL` view that are not a
documented extension API (their names and signatures may change in any release), and
`execute` turns the view's own HTTP errors (raised as `cross_web.HTTPException`) into the
application's coded refusals. `OVERRIDDEN` lists what is relied on: tests/test_strawberry_
adapter.py compares it with the installed Strawberry and fails when anything moved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from strawberry.asgi import GraphQL
from strawberry.exceptions import StrawberryGraphQLError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionResult

from core import http
from core.http import Refusal
from core.outcome import RequestOutcome
from microspace.web import persisted
from microspace.web.graphiql import PAGE
from schema.context import Context

# Strawberry view methods this module overrides or calls, with the parameters it relies on
OVERRIDDEN: dict[str, tuple[str, ...]] = {
    "encode_json": ("self", "data"),
    "execute_single": (
        "self",
        "request",
        "request_adapter",
        "sub_response",
        "context",
        "root_value",
        "request_data",
    ),
    "should_render_graphql_ide": ("self", "request"),
    "parse_http_body": ("self", "request"),
    "process_result": ("self", "request", "result"),
    "run": ("self", "request", "context", "root_value"),
}


# the scope key of a subscription's event query (microspace/live/runner.py): its document was
# checked when subscribed (a widget's trusted) and rewritten; an HTTP client cannot set it
LIVE_SCOPE = "microspace.live"


class OutcomeRequest(Request):
    """A Starlette request that carries its typed outcome to `process_result`, which
    Strawberry calls with the request but not the context."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outcome = RequestOutcome()


class StrawberryView(GraphQL[Context, None]):
    """Strawberry's ASGI view with strict HTTP parsing and GraphQL-over-HTTP request errors,
    and documents by hash (microspace/web/persisted.py)."""

    # GET with a query text (GET by hash is always open: `allow_queries_via_get` stays on)
    get_text_queries = False

    @property
    def graphql_ide_html(self) -> str:
        # GraphiQL from the API's own assets, never a CDN (microspace/web/graphiql.py)
        return PAGE

    async def execute(self, request: Request, context: Context) -> Response:
        """Run one operation; the view's HTTP errors come back as coded refusals."""
        try:
            return await self.run(request, context=context)
        except HTTPException as exc:
            if isinstance(exc.__cause__, InvalidOperationTypeError) and request.method == "GET":
                raise Refusal(
                    405,
                    "MUTATION_OVER_GET",
                    "Mutations are only accepted over POST.",
                    {"Allow": "POST"},
                ) from None
            raise Refusal(exc.status_code, "BAD_REQUEST", exc.reason) from None
        except StrawberryGraphQLError as exc:
            raise Refusal(400, "BAD_REQUEST", exc.message) from None

    def encode_json(self, data: object) -> bytes:
        # orjson: several times faster than json.dumps on large results
        return orjson.dumps(data)

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:
        if request.method == "GET":
            params = {k: v for k, v in request.query_params.items() if v is not None}
            data = http.parse_get(params)
            if not self.get_text_queries and not http.persisted_query(data.extensions):
                raise Refusal(
                    405,
                    "GET_NOT_ALLOWED",
                    "Send operations as POST with `Content-Type: application/json`, or by "
                    "hash (`extensions.persistedQuery`) over GET.",
                    {"Allow": "POST"},
                )
            if not (http.persisted_query(data.extensions) or _has_credential(request)):
                # an anonymous caller reads nothing by GET: no cross-site GET can run an
                # operation for it (graphql-cop's "GET Method Query Support")
                raise Refusal(
                    405,
                    "GET_NOT_ALLOWED",
                    "A query by GET needs a credential (a bearer token, or a widget key in "
                    "`key`); without one, send it as POST with `Content-Type: application/json`.",
                    {"Allow": "POST"},
                )
            return data
        if http.is_multipart(request.content_type):
            return await _multipart(request)
        return http.parse_post(request.content_type, await request.get_body())

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # a GET by hash has no `query` parameter but is an operation, not a browser visit
        params: Mapping[str, object] = getattr(request, "query_params", {})
        if "extensions" in params:
            return False
        return bool(super().should_render_graphql_ide(request))

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        # the document by hash, or a widget refused an untrusted one
        to_register: persisted.Pending = None
        try:
            if not request.scope.get(LIVE_SCOPE):
                request_data, to_register = await persisted.resolve(context, request_data)
        except persisted.PersistedQueryError as error:
            return error.result()
        result: ExecutionResult = await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )
        if to_register is not None:
            # an automatic persisted query is kept once it passed the limits and validation
            await persisted.keep_automatic(context, to_register, result)
        return result

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        data = await super().process_result(request, result)
        errors: list[Any] = list(data.get("errors") or [])
        if isinstance(request, OutcomeRequest):
            request.outcome.graphql_errors = bool(errors)
        if errors:  # first, as the GraphQL spec advises: what `http.names_errors` reads
            data = cast(
                GraphQLHTTPResponse,
                {"errors": data["errors"]} | {k: v for k, v in data.items() if k != "errors"},
            )
        request_error = data.get("data") is None and errors and all("path" not in e for e in errors)
        if request_error and http.wants_graphql_response(request.headers.get("accept")):
            # GraphQL-over-HTTP: a request error has no `data` and a 4xx status
            data.pop("data", None)
            if isinstance(request, OutcomeRequest):
                request.outcome.request_error = True
        return data


async def _multipart(request: AsyncHTTPRequestAdapter) -> GraphQLRequestData:
    """A GraphQL multipart request (file uploads), its body already bounded by
    `MICROSPACE_MAX_UPLOAD_BYTES`; files past 1 MiB are spooled to disk by Starlette."""
    http.check_multipart_headers(request.headers)
    try:
        form = (await request.get_form_data()).form
    except (StarletteHTTPException, ValueError):  # malformed parts, too many of them
        raise Refusal(400, "BAD_REQUEST", "The multipart body could not be parsed.") from None
    if len(form) > http.MULTIPART_MAX_FILES + 2:
        raise Refusal(400, "BAD_REQUEST", "A multipart request carries too many parts.")
    return http.parse_multipart(form)


def _has_credential(request: AsyncHTTPRequestAdapter) -> bool:
    return bool(request.headers.get("authorization") or request.query_params.get("key"))
