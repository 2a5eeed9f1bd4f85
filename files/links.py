"""Signed, short-lived file links (core/signed.py tokens, a purpose of their own each).

A download link names the storage key, the media type and name to answer with, whether a
shared cache may keep the bytes, and its expiry. It is a capability, like an S3 presigned
URL: whoever holds it reads that one file until it expires, nothing else. It is handed out
only to a caller who may read the asset (files/access.py), and dies with the file: after a
deletion or an erasure the key is gone and the link answers as a random one does.

An upload link (local storage only; S3 gets a presigned PUT) names the key to write, the
most bytes it takes, and its expiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core import signed

DOWNLOAD = b"microspace.file-link.v1"
UPLOAD = b"microspace.upload-link.v1"
MAX_TOKEN_CHARS = 1024
SKEW_SECONDS = 60


class LinkInvalid(Exception):
    """Malformed, altered, or signed with another key: as if it never existed."""


class LinkExpired(Exception):
    """Genuine but past its expiry."""


@dataclass(frozen=True)
class FileLink:
    key: str
    media_type: str
    name: str
    public: bool
    expires: int


@dataclass(frozen=True)
class UploadLink:
    key: str
    limit: int
    expires: int


def expiry(now: float, ttl: float) -> int:
    """An expiry `ttl` to `1.5 ttl` from now, rounded to a step of `ttl / 2`: links made
    within one step are the same URL, so browsers and shared caches can reuse the bytes."""
    step = max(1, int(ttl // 2))
    return (int(now + ttl) // step + 1) * step


def sign_download(secret: bytes, link: FileLink) -> str:
    payload = {
        "k": link.key,
        "m": link.media_type,
        "n": link.name,
        "p": 1 if link.public else 0,
        "e": link.expires,
    }
    return signed.seal(secret, DOWNLOAD, payload)


def sign_upload(secret: bytes, link: UploadLink) -> str:
    return signed.seal(secret, UPLOAD, {"k": link.key, "l": link.limit, "e": link.expires})


def _open(secret: bytes, purpose: bytes, token: str, now: float, ttl: float) -> Any:
    try:
        payload = signed.unseal(secret, purpose, token, max_chars=MAX_TOKEN_CHARS)
        expires = payload["e"]
        if not isinstance(expires, int) or isinstance(expires, bool):
            raise TypeError("expiry")
    except (signed.Unsealed, KeyError, TypeError) as exc:
        raise LinkInvalid(str(exc)) from None
    if expires - now > 1.5 * ttl + SKEW_SECONDS:
        # longer-lived than any link this installation makes: never honoured
        raise LinkInvalid("expiry beyond the configured maximum")
    if now >= expires:
        raise LinkExpired()
    return payload


def verify_download(secret: bytes, token: str, *, now: float, ttl: float) -> FileLink:
    payload = _open(secret, DOWNLOAD, token, now, ttl)
    try:
        fields = (payload["k"], payload["m"], payload["n"])
        if not all(isinstance(f, str) for f in fields) or payload["p"] not in (0, 1):
            raise TypeError("shape")
    except (KeyError, TypeError) as exc:
        raise LinkInvalid(str(exc)) from None
    return FileLink(fields[0], fields[1], fields[2], payload["p"] == 1, payload["e"])


def verify_upload(secret: bytes, token: str, *, now: float, ttl: float) -> UploadLink:
    payload = _open(secret, UPLOAD, token, now, ttl)
    key, limit = payload.get("k"), payload.get("l")
    if not isinstance(key, str) or not isinstance(limit, int) or isinstance(limit, bool):
        raise LinkInvalid("shape")
    return UploadLink(key, limit, payload["e"])
