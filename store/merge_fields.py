"""Merge fields in block text: `{{contact.firstName}}`, `{{contact.company | your team}}`;
`\\{{` for a literal `{{`.

Stored as written, resolved when read (docs/content.md "Templates and merge fields"): the
contact's data is never copied into a block, so erasing the contact leaves none behind.

Resolution is written once in SQL (migration `app_merged`, `app_merge_fields`,
`app_merge_values`) and mirrored here for the resolver path: `resolve` does to a decoded
body what `app_merge_fields` does to its JSON text, so both read paths answer alike. Which
values a reader gets is `app_merge_values`'s, on both paths (store/merge_values.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

OPEN = "{{"
# A merge field; the same expression as the SQL functions (PostgreSQL's ARE and Python's re
# agree on it: no lazy quantifier, no class shorthand). A fallback holds no brace and no
# double quote, so in a body's JSON text a match never leaves the string it starts in.
PATTERN = r"\{\{ *([a-z]+\.[A-Za-z]+) *(\|([^{}\"]*))?\}\}"
_PATTERN = re.compile(PATTERN)
FALLBACK_MAX = 200

# The escape, as Handlebars has it: `\{{` is a literal `{{` (the backslash goes), and `\\{{`
# a backslash before a merge field (one backslash goes). Any other backslash is text.
# What a text holds, left to right: group 1 a kept backslash (`\\` before `{{`), group 2
# an escaped `{{`, else a merge field (groups 3-5 as PATTERN's 1-3). Migration 0040 writes
# the same for a body's JSON text, where each backslash is two.
TOKENS = r"(\\\\)(?=\{\{)|(\\\{\{)|" + PATTERN
_TOKENS = re.compile(TOKENS)
# where a merge field may start: `{{`, or the backslashes that change what it means
_STARTS = re.compile(r"(\\\\)(?=\{\{)|(\\\{\{)|\{\{")

# the fields a block may name; what each reads is `app_merge_values`'s
FIELDS = ("contact.firstName", "contact.fullName", "contact.company", "member.fullName")
# keys whose values are never text: a merge field there would put a person's data in a URL
NOT_TEXT = frozenset({"url", "assetId"})


@dataclass(frozen=True)
class Problem:
    path: list[str]  # the body key holding the text (list indexes as strings)
    offset: int  # where the merge field starts: a zero-based character offset in the text
    message: str


def _strings(value: Any, path: list[str]) -> Iterator[tuple[list[str], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, [*path, str(key)])
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _strings(item, [*path, str(n)])


def problem(body: Any) -> Problem | None:
    """The first malformed, unknown or misplaced merge field of a body, or None."""
    try:
        # each finding starts at a `{{`, which JSON text holds only inside strings: a body
        # without one (most) is spared the walk
        if OPEN.encode() not in orjson.dumps(body):
            return None
    except orjson.JSONEncodeError:
        pass  # the walk below tells
    for path, text in _strings(body, []):
        if path and path[-1] in NOT_TEXT:
            # a URL is never rewritten when read: no `{{` there, escaped or not
            start = text.find(OPEN)
            if start != -1:
                where = f"{'.'.join(path)}, character {start}"
                return Problem(path, start, f"{where}: a merge field cannot stand in a URL.")
            continue
        found = _STARTS.search(text)
        while found is not None:
            if found.group(1) or found.group(2):
                # a kept backslash: the merge field after it is found next; an escape: text
                found = _STARTS.search(text, found.end())
                continue
            start = found.start()
            where = f"{'.'.join(path)}, character {start}"
            match = _PATTERN.match(text, start)
            if match is None:
                return Problem(
                    path,
                    start,
                    f"{where}: a malformed merge field; write `{{{{contact.firstName}}}}` or "
                    "`{{contact.firstName | fallback}}` (no braces or double quotes in the "
                    "fallback), or `\\{{` for a literal `{{`.",
                )
            if match.group(1) not in FIELDS:
                return Problem(
                    path,
                    start,
                    f"{where}: unknown merge field `{match.group(1)}`; known: {', '.join(FIELDS)}.",
                )
            if len(match.group(3) or "") > FALLBACK_MAX:
                return Problem(
                    path, start, f"{where}: a fallback may be at most {FALLBACK_MAX} characters."
                )
            found = _STARTS.search(text, match.end())
    return None


def _fill(text: str, values: Mapping[str, Any]) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(1):
            return "\\"
        if match.group(2):
            return OPEN
        value = values.get(match.group(3))
        if isinstance(value, str) and value != "":
            return value
        return (match.group(5) or "").strip(" ")

    return _TOKENS.sub(one, text)


def resolve(body: Any, values: Mapping[str, Any] | None) -> Any:
    """`body` with every merge field replaced: the reader's value, else its fallback, else
    nothing. `values` None: no reader (a widget, a preview), every field its fallback."""
    seen = values or {}
    if isinstance(body, str):
        return _fill(body, seen) if OPEN in body else body
    if isinstance(body, dict):
        return {key: resolve(item, seen) for key, item in body.items()}
    if isinstance(body, list):
        return [resolve(item, seen) for item in body]
    return body


def has_fields(body: Any) -> bool:
    return any(OPEN in text for _, text in _strings(body, []))


def names(body: Any) -> set[str]:
    """The merge fields a body names (not escaped ones), as migration 0048 finds them."""
    return {
        m.group(3)
        for _, text in _strings(body, [])
        for m in _TOKENS.finditer(text)
        if m.group(3) is not None
    }


# what a contact's merge field discloses: the field a direct read of it audits (Contact),
# and the decision (policies/merge.py MergeReader) that withholds it
DISCLOSES = {
    "contact.firstName": ("fullName", "name"),
    "contact.fullName": ("fullName", "name"),
    "contact.company": ("company", "company"),
}
GROUPS = ("name", "company")  # in this order, as the SQL functions list them
AUDITED = ("fullName", "company")


def audited(found: set[str], values: Mapping[str, Any]) -> list[str]:
    """The contact fields whose values (in full or masked) the merge fields `found` put
    into the text: migration 0048 `app_merge_audit`. A fallback discloses nothing."""
    if values.get("subject") is None:
        return []
    shown = {
        DISCLOSES[name][0]
        for name in found
        if name in DISCLOSES and isinstance(values.get(name), str) and values[name] != ""
    }
    return [field for field in AUDITED if field in shown]


def withheld(found: set[str], values: Mapping[str, Any], withholding: frozenset[str]) -> list[str]:
    """The groups (`name`, `company`) of the contact's values the reader's decisions withheld
    from the merge fields `found`: migration 0048 `app_merge_withheld`. `withholding`: the
    groups the reader's decisions withhold (policies/merge.py `MergeReader.withholding`)."""
    if values.get("subject") is None:
        return []
    held = {
        DISCLOSES[name][1]
        for name in found
        if name in DISCLOSES and DISCLOSES[name][1] in withholding
    }
    return [group for group in GROUPS if group in held]
