"""Scalars of the schema's own, mapped from their Python types by `SCALARS` (the schema's
`scalar_map`, schema/build.py)."""

from __future__ import annotations

from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

ByteCount = NewType("ByteCount", int)

SCALARS: dict[object, ScalarDefinition] = {
    ByteCount: strawberry.scalar(
        name="ByteCount",
        description="A number of bytes: a whole number that may pass 2^31 (a JSON number, "
        "exact up to 2^53).",
        serialize=int,
        parse_value=int,
    )
}
