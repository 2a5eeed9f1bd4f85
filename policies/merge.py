"""Whose values a reader sees in merge fields (docs/content.md "Templates and merge fields").

- a visitor: their own contact's, in full (their own data);
- a member or partner key: the contact the space is personalised for, as the reader's
  decision on Contact.fullName (first and full name) and Contact.company allows: the value,
  the mask of policies/redaction.py, or withheld (the fallback shows);
- anyone else (a widget key, a preview): no values, every field its fallback.

`{{member.fullName}}` names the space's member (who created or personalised it) for every
reader with values. Both read paths ask here (schema/blocks.py, compiler/objects.py).

A contact's value filled in (in full or masked) is audited as a direct read of the contact
field would be (subject: that contact; `fullName`, `company`); a value withheld by the
reader's decision is reported in `extensions.redactions` at the block's field; a fallback
discloses nothing. A visitor's own values are audited like their own consent's.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.contact import Contact
from policies.redaction import Checks, Decision, decide

VALUE_READERS = frozenset({"member", "partner"})
SHOWN = frozenset({Decision.FULL.value, Decision.MASKED.value})
# the category a withheld group is reported under, as a direct read of its field
CATEGORIES = {
    "name": Contact.__table__.c.full_name.info["pii"],
    "company": Contact.__table__.c.company.info["pii"],
}


@dataclass(frozen=True)
class MergeReader:
    own: bool  # a visitor's own contact, rather than the space's
    name: str  # the Decision value for Contact.fullName
    company: str  # for Contact.company

    @property
    def withholding(self) -> frozenset[str]:
        """The groups (`name`, `company`) whose values the reader's decisions withhold."""
        groups = (("name", self.name), ("company", self.company))
        return frozenset(group for group, decision in groups if decision not in SHOWN)

    @property
    def discloses(self) -> bool:
        """Whether any contact value may show: then a read is audited."""
        return self.name in SHOWN or self.company in SHOWN

    @property
    def withholds(self) -> bool:
        """Whether a contact value may be withheld: then `extensions.redactions` says so."""
        return not (self.name in SHOWN and self.company in SHOWN)


def merge_reader(kind: str, authz: Checks) -> MergeReader | None:
    if kind == "visitor":
        return MergeReader(True, "read", "read")
    if kind in VALUE_READERS:
        name = decide(authz, "Contact.fullName").value
        return MergeReader(False, name, decide(authz, "Contact.company").value)
    return None
