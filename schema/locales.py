"""A tenant's content locales (docs/content.md, Locales): read by members, set by owners and
admins."""

from __future__ import annotations

import enum

import strawberry

from schema.errors import UserError
from store.locales import Locales


@strawberry.type(description="The locales a tenant's content is written in, and its default.")
class ContentLocales:
    locales: list[str] = strawberry.field(
        description="BCP 47 tags in their conventional case (`de`, `de-AT`), in the order set."
    )
    default_locale: str = strawberry.field(
        description="One of `locales`: the locale of every block's own body, and the end of "
        "every read's fallback chain."
    )

    @classmethod
    def of(cls, found: Locales) -> ContentLocales:
        return cls(locales=list(found.available), default_locale=found.default)


@strawberry.enum
class LocaleErrorCode(enum.Enum):
    INVALID_LOCALE = "invalid_locale"
    DUPLICATE_LOCALE = "duplicate_locale"
    DEFAULT_NOT_LISTED = "default_not_listed"
    TOO_MANY = "too_many"


@strawberry.type(description="Why a change of the content locales was refused; nothing changed.")
class LocaleUserError(UserError):
    code: LocaleErrorCode


@strawberry.input(description="The whole list of locales and the default among them.")
class ContentLocalesUpdateInput:
    locales: list[str] = strawberry.field(description="1 to 30 BCP 47 tags.")
    default_locale: str


@strawberry.type
class ContentLocalesPayload:
    content_locales: ContentLocales | None = None
    user_errors: list[LocaleUserError] = strawberry.field(default_factory=list)
