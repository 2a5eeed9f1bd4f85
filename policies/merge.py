"""Whose values a reader sees in merge fields (docs/content.md "Templates and merge fields").

- a visitor: their own contact's, in full (their own data);
- a member or partner key: the contact the space is personalised for, as the reader's
  decision on Contact.fullName (first and full name) and Contact.company allows: the value,
  the mask of policies/redaction.py, or withheld (the fallback shows);
- anyone else (a widget key, a preview): no values, every field its fallback.

`{{member.fullName}}` names the space's member (who created or personalised it) for every
reader with values. Both read paths ask here (schema/blocks.py, compiler/objects.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from policies.redaction import Checks, decide

VALUE_READERS = frozenset({"member", "partner"})


@dataclass(frozen=True)
class MergeReader:
    own: bool  # a visitor's own contact, rather than the space's
    name: str  # the Decision value for Contact.fullName
    company: str  # for Contact.company


def merge_reader(kind: str, authz: Checks) -> MergeReader | None:
    if kind == "visitor":
        return MergeReader(True, "read", "read")
    if kind in VALUE_READERS:
        name = decide(authz, "Contact.fullName").value
        return MergeReader(False, name, decide(authz, "Contact.company").value)
    return None
