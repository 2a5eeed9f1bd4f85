"""What erasure does to each table that references a data subject, declared with the model.

Each model that can hold a subject's data sets `__subject__ = SubjectLink(...)`: the column
that points at the contact and the action (delete, anonymise, or keep with a stated legal
basis). The privacy engine reads these declarations and the personal-data map; it keeps no
list of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Action = Literal["delete", "anonymise", "keep"]


@dataclass(frozen=True)
class SubjectLink:
    column: str  # the column holding the contact's id
    action: Action
    legal_basis: str | None = None
    # the application role may not delete these rows itself (append-only ledgers): the
    # engine goes through app_erase_ledger(), which allows it only during an erasure
    ledger: bool = False
    # the column is an array of contact ids (an entry about several contacts)
    many: bool = False

    def __post_init__(self) -> None:
        if self.action == "keep" and not self.legal_basis:
            raise ValueError("keeping a subject's rows needs a stated legal basis")


def subject_models(base: Any) -> list[tuple[type[Any], SubjectLink]]:
    """Every mapped model that declares how it references a data subject, in FK-safe order
    (children first, the contact itself last)."""
    out = []
    for mapper in base.registry.mappers:
        link = getattr(mapper.class_, "__subject__", None)
        if isinstance(link, SubjectLink):
            out.append((mapper.class_, link))
    return sorted(out, key=lambda m: (m[1].column == "id", m[0].__tablename__))
