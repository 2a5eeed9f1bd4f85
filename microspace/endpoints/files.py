"""`GET /files/{token}`: a file's bytes by its signed link; `PUT /files/uploads/{token}`: an
upload URL's bytes on local storage (S3 takes them by presigned PUT instead).

Both are decided by the signed token alone (files/links.py), with no database: a download
link was handed out to someone who could read the asset, and names the key; an upload link
names the one key it may write and its most bytes. The bytes stream in chunks both ways
(memory stays flat whatever the size), outside the GraphQL execution timeout. A link that
is altered, random, of another purpose, or whose file is gone answers the same 403.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from core.http import Refusal
from files import links, media
from files.images import ImageRefused
from files.sniff import INLINE
from files.storage import ObjectMissing, TooLarge
from microspace.web.state import AppState

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
Endpoint = Callable[[Request], Awaitable[Response]]
# files up to this size are read whole and sent in one message, not streamed
SMALL = 256 * 1024


def invalid_link() -> Refusal:
    return Refusal(403, "FILE_LINK_INVALID", "This file link is not valid.")


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of a single `Range: bytes=...` the file can satisfy; None: the whole
    file (no header, several ranges or another unit, which RFC 9110 lets a server ignore);
    416 when the range starts past the end."""
    match = _RANGE.fullmatch((header or "").strip())
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:  # the last N bytes
        count = int(last)
        if count == 0:
            raise _unsatisfiable(size)
        return max(0, size - count), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise _unsatisfiable(size)
    return start, end


def _unsatisfiable(size: int) -> Refusal:
    return Refusal(
        416,
        "RANGE_NOT_SATISFIABLE",
        "The range asked for lies outside the file.",
        {"Content-Range": f"bytes */{size}"},
    )


def download_endpoint(state: AppState) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        try:
            return await _download(state, request)
        except Refusal as refusal:
            response = refusal.response()
            response.headers["Cache-Control"] = "no-store"
            return response

    return endpoint


def _disposition(link: links.FileLink) -> str:
    how = "inline" if link.media_type.startswith(INLINE) else "attachment"
    fallback = link.name.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return f"{how}; filename=\"{fallback}\"; filename*=UTF-8''{quote(link.name, safe='')}"


async def _download(state: AppState, request: Request) -> Response:
    settings, storage = state.settings, state.storage
    now = time.time()
    try:
        link = links.verify_download(
            settings.secret(), request.path_params["token"], now=now, ttl=settings.file_link_ttl
        )
    except links.LinkInvalid:
        raise invalid_link() from None
    except links.LinkExpired:
        raise Refusal(
            403, "FILE_LINK_EXPIRED", "This file link has expired; read the file's URL again."
        ) from None
    try:  # a variant the link names is made on its first request (files/media.py), then kept
        size = await media.ensure_variant(storage, link.key)
    except ImageRefused as refused:
        raise Refusal(422, refused.code, refused.message) from None
    if size is None:  # deleted or erased since: as if the link never existed
        raise invalid_link()
    age = max(0, min(int(link.expires - now), int(settings.file_link_ttl)))
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": f"{'public' if link.public else 'private'}, max-age={age}",
        "Content-Disposition": _disposition(link),
        "X-Content-Type-Options": "nosniff",
        # an uploaded file never runs as a page of the API's origin
        "Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    status, first, last = 200, 0, size - 1
    chosen = byte_range(request.headers.get("range"), size) if size else None
    if chosen is not None:
        status, (first, last) = 206, chosen
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    headers["Content-Length"] = str(last - first + 1 if size else 0)
    if request.method == "HEAD" or not size:
        return Response(status_code=status, headers=headers, media_type=link.media_type)
    if status == 200 and size <= SMALL:
        # an image variant, mostly: read in one go and sent in one message, which takes a
        # third of a streamed answer's time (bench/images.py serve)
        try:
            body = await storage.get(link.key)
        except ObjectMissing:
            raise invalid_link() from None
        return Response(body, headers=headers, media_type=link.media_type)
    return StreamingResponse(
        _bytes(storage.stream(link.key, first, last)),
        status_code=status,
        headers=headers,
        media_type=link.media_type,
    )


async def _bytes(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield chunk
    except ObjectMissing:
        return  # deleted while being sent: the client sees a short body


def upload_endpoint(state: AppState) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        try:
            return await _upload(state, request)
        except Refusal as refusal:
            return refusal.response()

    return endpoint


async def _upload(state: AppState, request: Request) -> Response:
    settings, storage = state.settings, state.storage
    try:
        link = links.verify_upload(
            settings.secret(),
            request.path_params["token"],
            now=time.time(),
            ttl=settings.upload_link_ttl,
        )
    except links.LinkInvalid:
        raise Refusal(403, "UPLOAD_LINK_INVALID", "This upload link is not valid.") from None
    except links.LinkExpired:
        raise Refusal(
            403, "UPLOAD_LINK_EXPIRED", "This upload link has expired; start the upload again."
        ) from None
    too_large = Refusal(
        413, "FILE_TOO_LARGE", f"The file may be at most {link.limit} bytes.", limit=link.limit
    )
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > link.limit):
        raise too_large
    original = link.key.rsplit("/", 1)[0] + "/original"
    if await storage.size(original) is not None:
        raise Refusal(409, "UPLOAD_ALREADY_COMPLETE", "This upload was completed already.")
    try:
        stored = await storage.put(link.key, request.stream(), limit=link.limit)
    except TooLarge:
        raise too_large from None
    return JSONResponse({"byteSize": stored.size}, headers={"Cache-Control": "no-store"})
