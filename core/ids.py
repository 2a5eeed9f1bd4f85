"""Opaque Relay global IDs and pagination cursors."""

from __future__ import annotations

import base64
import binascii
import json
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


def parse_id(global_id: str) -> tuple[str, uuid.UUID]:
    """Split a global ID; malformed input is INVALID_ID (it reveals nothing of any tenant)."""
    if not isinstance(global_id, str) or not 0 < len(global_id) <= 100:
        raise InvalidId()
    try:
        type_name, _, raw = _b64decode(global_id).decode().partition(":")
        return type_name, uuid.UUID(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidId() from None


def decode_id(global_id: str, expected_type: str) -> uuid.UUID:
    """The UUID inside an ID of `expected_type`; an ID of another type is NOT_FOUND."""
    type_name, id_ = parse_id(global_id)
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
