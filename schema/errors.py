"""The shared shape of a mutation's user errors; each domain adds its own `code` enum."""

from __future__ import annotations

import strawberry


@strawberry.interface(
    description="A problem with a mutation's input: nothing was changed. Each domain's error "
    "type adds a `code` from its own enum."
)
class UserError:
    field: list[str] | None = strawberry.field(
        description="Path to the input field at fault, when one is."
    )
    message: str
