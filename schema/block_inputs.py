"""Typed block input: one input per block kind, joined in the `@oneOf` `BlockContentInput`.

The shapes mirror the read types of schema/block_bodies.py. The schema checks the shape (the
kind, the fields, their types); the limits (lengths, URLs, ranges) are store/block_bodies.py's
rule, the one every body passes on write, whichever way it came.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import strawberry
from strawberry.utils.str_converters import to_camel_case

from core.ids import decode_id


@strawberry.input(description="A heading.")
class HeadingInput:
    text: str
    level: int | None = strawberry.field(default=None, description="1 to 6; 2 unless given.")


@strawberry.input(description="A paragraph of text.")
class RichTextInput:
    text: str
    format: str | None = strawberry.field(
        default=None, description="`markdown` (unless given) or `plain`."
    )


@strawberry.input(description="A link.")
class LinkInput:
    url: str
    label: str | None = None


SOURCE = "Exactly one of `assetId` (a file of the asset library) and `url` (elsewhere)."


@strawberry.input(description=f"A file to download. {SOURCE}")
class FileInput:
    name: str = strawberry.field(description="The link's text.")
    url: str | None = strawberry.field(default=None, description="An external file's address.")
    asset_id: strawberry.ID | None = strawberry.field(
        default=None, description="A file of the asset library (any kind)."
    )
    size_bytes: int | None = strawberry.field(default=None, description="External files only.")
    mime_type: str | None = strawberry.field(default=None, description="External files only.")


@strawberry.input(description=f"A video. {SOURCE}")
class VideoInput:
    url: str | None = strawberry.field(default=None, description="An external video's address.")
    asset_id: strawberry.ID | None = strawberry.field(
        default=None, description="A video of the asset library."
    )
    caption: str | None = None


@strawberry.input(
    description="An image of the asset library, described for those who cannot see it."
)
class ImageInput:
    asset_id: strawberry.ID
    alt: str | None = strawberry.field(
        default=None,
        description="What the image shows, for screen readers and when it cannot load: "
        "required unless `decorative`.",
    )
    decorative: bool | None = strawberry.field(
        default=None,
        description="true: the image adds nothing to the text (its alt text is empty); "
        "then give no `alt`.",
    )
    caption: str | None = None


@strawberry.input(description="One image (or video) of a gallery.")
class GalleryItemInput:
    asset_id: strawberry.ID
    alt: str | None = strawberry.field(
        default=None, description="What the image shows (else its caption stands for it)."
    )
    caption: str | None = None


@strawberry.input(description="Images (or videos) of the asset library, in order.")
class GalleryInput:
    items: list[GalleryItemInput] = strawberry.field(description="1 to 100 items.")


@strawberry.input(description="An embedded page.")
class EmbedInput:
    url: str
    title: str | None = None
    height: int | None = strawberry.field(default=None, description="50 to 4000 pixels.")


@strawberry.input(description="One item of a checklist.")
class ChecklistItemInput:
    text: str
    checked: bool | None = strawberry.field(default=None, description="false unless given.")


@strawberry.input(description="A checklist.")
class ChecklistInput:
    items: list[ChecklistItemInput] = strawberry.field(description="1 to 200 items.")


@strawberry.input(
    one_of=True,
    description="A block's content: exactly one field, named after the block's kind.",
)
class BlockContentInput:
    # the field names are the BlockKind values (rich_text -> richText)
    heading: HeadingInput | None = strawberry.UNSET
    rich_text: RichTextInput | None = strawberry.UNSET
    link: LinkInput | None = strawberry.UNSET
    file: FileInput | None = strawberry.UNSET
    video: VideoInput | None = strawberry.UNSET
    embed: EmbedInput | None = strawberry.UNSET
    checklist: ChecklistInput | None = strawberry.UNSET
    image: ImageInput | None = strawberry.UNSET
    gallery: GalleryInput | None = strawberry.UNSET


def content_body(content: BlockContentInput) -> tuple[str, dict[str, Any]]:
    """The kind the content names and its body as stored (the JSON form's keys)."""
    for field in dataclasses.fields(content):
        value = getattr(content, field.name)
        if value is not None and value is not strawberry.UNSET:
            return field.name, _plain(value)
    # unreachable: @oneOf refuses an input without exactly one non-null field
    raise ValueError("a BlockContentInput names no kind")


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if dataclasses.is_dataclass(value):
        return {
            to_camel_case(f.name): _stored(f.name, _plain(getattr(value, f.name)))
            for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None
        }
    return value


def _stored(name: str, value: Any) -> Any:
    # a body keeps an asset's own id: the global ID is the API's spelling of it (a malformed
    # one is INVALID_ID; another type's, NOT_FOUND)
    return str(decode_id(value, "Asset")) if name == "asset_id" else value
