"""The media type of a file, sniffed from its first bytes (magic numbers, by `filetype`),
never taken from the client. What no signature names is plain text when it is UTF-8
without control characters, else `application/octet-stream`."""

from __future__ import annotations

import filetype

OCTET_STREAM = "application/octet-stream"
TEXT = "text/plain"

# what a tenant may upload unless its plan names its own list (docs/files.md); no HTML, SVG
# or XML: a browser would run their scripts in the API's origin
DEFAULT_ALLOWED = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/avif",
        "image/heic",
        "video/mp4",
        "video/webm",
        "video/quicktime",
        "audio/mpeg",
        "audio/ogg",
        "audio/x-wav",
        "audio/mp4",
        "application/pdf",
        "application/zip",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        TEXT,
    }
)
# shown inline by a browser; anything else is sent as an attachment
INLINE = ("image/", "video/", "audio/", "application/pdf", TEXT)
_CONTROL = set(range(32)) - {9, 10, 12, 13}


def sniff(head: bytes) -> str:
    """The media type of a file whose first bytes are `head` (a few KiB are enough)."""
    kind = filetype.guess(head)
    if kind is not None:
        return str(kind.mime)
    if head and _is_text(head):
        return TEXT
    return OCTET_STREAM


def _is_text(head: bytes) -> bool:
    if any(b in _CONTROL for b in head):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut by the end of the head is still text
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True
