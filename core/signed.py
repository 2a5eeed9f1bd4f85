"""Signed tokens for links sent to people: `<payload>.<signature>`.

The payload is compact JSON, the signature an HMAC-SHA256 under a key derived from the
server's secret and the link's purpose, so a token made for one purpose (an export, an
invitation, an unsubscribe) is worthless for another; both unpadded URL-safe base64. What
a payload must hold, and when it expires, is each link's own rule.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any


class Unsealed(ValueError):
    """Not a genuine token: malformed, or not signed with this secret for this purpose."""


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: bytes, purpose: bytes, part: str) -> str:
    key = hmac.new(secret, purpose, hashlib.sha256).digest()
    return b64(hmac.new(key, part.encode("ascii"), hashlib.sha256).digest())


def seal(secret: bytes, purpose: bytes, payload: Mapping[str, Any]) -> str:
    part = b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{part}.{_signature(secret, purpose, part)}"


def unseal(secret: bytes, purpose: bytes, token: str, *, max_chars: int) -> Any:
    """The payload of a genuine token (any JSON value: its shape is the caller's to check);
    Unsealed otherwise."""
    if len(token) > max_chars or token.count(".") != 1 or not token.isascii():
        raise Unsealed("malformed")
    part, signature = token.split(".")
    # compare the encoded signatures, not decoded bytes: base64 decoding ignores the spare
    # bits of the last character, so two spellings could decode to one value
    expected = _signature(secret, purpose, part)
    if not hmac.compare_digest(signature.encode("ascii"), expected.encode("ascii")):
        raise Unsealed("signature does not match")
    try:
        return json.loads(unb64(part))
    except ValueError as exc:  # signed by us but not JSON: malformed, never a server error
        raise Unsealed("payload is not JSON") from exc
