"""The personal-data map: which columns hold personal data, and of what category.

Declared once, on the columns (`info={"pii": "<fideslang category>"}`); redaction, export,
erasure, retention and the audit read it from here and keep no list of their own. A NOT NULL
personal column also declares what it becomes once erased (`info={ERASED: fn(table)}`, an
SQL expression); a nullable one becomes NULL unless it declares a replacement too.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Column, MetaData, Table

from models.base import Base

# the column-info key of an erased NOT NULL column's replacement: a function of the table
ERASED = "erased"


@dataclass(frozen=True)
class PersonalColumn:
    table: str
    column: str
    category: str


@lru_cache(maxsize=1)
def fideslang_categories() -> frozenset[str]:
    from fideslang.default_taxonomy import DEFAULT_TAXONOMY

    return frozenset(c.fides_key for c in DEFAULT_TAXONOMY.data_category)


def category_of(column: Column) -> str | None:  # type: ignore[type-arg]
    return column.info.get("pii")


def is_personal(column: Column) -> bool:  # type: ignore[type-arg]
    return "pii" in column.info


def personal_columns(metadata: MetaData = Base.metadata) -> list[PersonalColumn]:
    out = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            if is_personal(column):
                out.append(PersonalColumn(table.name, column.name, column.info["pii"]))
    return out


def personal_columns_of(table: Table) -> list[Column]:  # type: ignore[type-arg]
    return [c for c in table.columns if is_personal(c)]


def erased_values(table: Table, *, keep: Collection[str] = ()) -> dict[str, Any]:
    """The SET clause that erases a table's personal columns (but those in `keep`): NULL, or
    the declared replacement of a NOT NULL column; one with neither is left out."""
    values: dict[str, Any] = {}
    for column in personal_columns_of(table):
        if column.key in keep:
            continue
        if ERASED in column.info:
            # declared: a NOT NULL column, or a nullable one a constraint needs present
            values[column.key] = column.info[ERASED](table)
        elif column.nullable:
            values[column.key] = None
    return values


def unerasable_columns(table: Table) -> list[str]:
    """Personal columns that `erased_values` cannot clear: NOT NULL with no replacement."""
    return [c.key for c in personal_columns_of(table) if not c.nullable and ERASED not in c.info]


class UnknownCategory(ValueError):
    pass


def validate_categories(metadata: MetaData = Base.metadata) -> None:
    """Fail start-up when a personal column names no category or one fideslang lacks."""
    known = fideslang_categories()
    bad = [
        f"{pc.table}.{pc.column}: {pc.category!r}"
        for pc in personal_columns(metadata)
        if not isinstance(pc.category, str) or pc.category not in known
    ]
    if bad:
        raise UnknownCategory(
            "personal-data columns without a fideslang category: " + ", ".join(bad)
        )
