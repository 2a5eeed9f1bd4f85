"""The redaction decision for one personal field, and the masks it may apply.

Decisions are data (`Decision`), so a compiled SQL path could apply them the same way.
"""

from __future__ import annotations

import enum
import re
from typing import Any, Protocol


class Checks(Protocol):
    """What a decision needs of an authorizer (policies/authz.py) and nothing more."""

    def can(self, obj: str, act: str) -> bool: ...


class Decision(enum.Enum):
    FULL = "read"
    MASKED = "read_masked"
    REDACTED = "redacted"


def decide(authz: Checks, obj: str) -> Decision:
    """`read` gives the value, `read_masked` a mask, anything else null."""
    if authz.can(obj, "read"):
        return Decision.FULL
    if authz.can(obj, "read_masked"):
        return Decision.MASKED
    return Decision.REDACTED


def mask_email(value: str) -> str:
    local, at, domain = value.partition("@")
    if not at:
        return mask_text(value)
    return f"{local[:1]}***@{domain}"


def mask_name(value: str) -> str:
    return " ".join(f"{word[:1]}***" for word in value.split()) or "***"


def mask_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return f"***{digits[-2:]}" if len(digits) >= 2 else "***"


def mask_text(value: str) -> str:
    return f"{value[:1]}***" if value else "***"


MASKS = {
    "user.contact.email": mask_email,
    "user.name": mask_name,
    "user.contact.phone_number": mask_phone,
}


def mask(category: str, value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        return None  # no meaningful partial form: masked means withheld
    return MASKS.get(category, mask_text)(value)
