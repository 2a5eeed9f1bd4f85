"""A tenant's brand, served with its published spaces to widgets (docs/widget.md, Theming)."""

from __future__ import annotations

import enum
from typing import Any

import strawberry

from schema.errors import UserError
from store.brand import KEYS


@strawberry.type(
    description="A tenant's brand for its widgets; a null field keeps the widget's own look."
)
class Brand:
    primary_color: str | None = strawberry.field(description="Links and buttons, `#rrggbb`.")
    background_color: str | None = strawberry.field(description="The widget's background.")
    text_color: str | None = strawberry.field(description="The widget's text.")
    font_family: str | None = strawberry.field(description="A CSS font stack.")
    logo_url: str | None = strawberry.field(description="An https URL of the logo.")
    corner_radius: int | None = strawberry.field(description="Pixels, 0 to 32.")

    @classmethod
    def from_document(cls, doc: dict[str, Any] | None) -> Brand:
        doc = doc or {}
        return cls(**{field: doc.get(key) for field, key in KEYS.items()})


@strawberry.enum
class BrandErrorCode(enum.Enum):
    INVALID_COLOR = "invalid_color"
    INVALID_FONT = "invalid_font"
    INVALID_URL = "invalid_url"
    INVALID_RADIUS = "invalid_radius"


@strawberry.type(description="Why a brand change was refused; nothing changed.")
class BrandUserError(UserError):
    code: BrandErrorCode


@strawberry.input(description="Omitted fields stay as they are; null clears a field.")
class BrandUpdateInput:
    primary_color: str | None = strawberry.UNSET
    background_color: str | None = strawberry.UNSET
    text_color: str | None = strawberry.UNSET
    font_family: str | None = strawberry.UNSET
    logo_url: str | None = strawberry.UNSET
    corner_radius: int | None = strawberry.UNSET


@strawberry.type
class BrandPayload:
    brand: Brand | None = None
    user_errors: list[BrandUserError] = strawberry.field(default_factory=list)
