"""Opaque Relay global IDs and pagination cursors."""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import uuid
from typing import Any

from core.errors import ApiError, NotFound


class InvalidId(ApiError):
    code = "INVALID_ID"
    default_message = "Invalid ID."


class InvalidCursor(ApiError):
    code = "INVALID_CURSOR"
    default_message = "Invalid cursor."


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def encode_id(type_name: str, id_: uuid.UUID) -> str:
    return _b64encode(f"{type_name}:{id_}".encode())


# words a type name does not spell in lower case
ACRONYMS = {"Api": "API"}


def type_words(type_name: str) -> str:
    """A type's name as a sentence says it: ApiKey -> "API key", SpaceAccess -> "space access"."""
    words = re.findall(r"[A-Z][a-z0-9]*", type_name) or [type_name]
    return " ".join(ACRONYMS.get(w, w.lower()) for w in words)


def invalid_id(expected_type: str | None = None) -> InvalidId:
    """INVALID_ID in a plain sentence, naming the type expected when there is one."""
    if expected_type is None:
        return InvalidId("The ID given is not an ID of this API.")
    words = type_words(expected_type)
    article = "an" if words[0].lower() in "aeiou" else "a"
    return InvalidId(f"The ID given is not {article} {words} ID.")


def parse_id(global_id: str, expected_type: str | None = None) -> tuple[str, uuid.UUID]:
    """Split a global ID; malformed input is INVALID_ID (it reveals nothing of any tenant)."""
    if not isinstance(global_id, str) or not 0 < len(global_id) <= 100:
        raise invalid_id(expected_type)
    split = _split(global_id)
    if split is None:
        raise invalid_id(expected_type)
    return split


# the same IDs come back request after request (a page's space, its blocks)
@functools.lru_cache(maxsize=8192)
def _split(global_id: str) -> tuple[str, uuid.UUID] | None:
    try:
        type_name, _, raw = _b64decode(global_id).decode().partition(":")
        return type_name, uuid.UUID(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def decode_id(global_id: str, expected_type: str) -> uuid.UUID:
    """The UUID inside an ID of `expected_type`; an ID of another type is NOT_FOUND."""
    type_name, id_ = parse_id(global_id, expected_type)
    if type_name != expected_type:
        raise NotFound()
    return id_


def encode_cursor(values: list[Any]) -> str:
    return _b64encode(json.dumps(values, default=str, separators=(",", ":")).encode())


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        values = json.loads(_b64decode(cursor))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor() from None
    if not isinstance(values, list) or len(values) != arity:
        raise InvalidCursor()
    return values
