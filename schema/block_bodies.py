"""Typed block bodies: one GraphQL type per block kind, joined in the `BlockBody` union.

The shapes mirror store/block_bodies.py, which validates every body on write; a stored body
is therefore already complete, and defaults below only fill what validation left implicit.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import strawberry

from core.rich_text import to_html
from schema.context import Info
from schema.files import Asset


@strawberry.type
class HeadingBody:
    text: str
    level: int = strawberry.field(description="1 to 6; 2 unless given.")


@strawberry.type
class RichTextBody:
    format: str = strawberry.field(description="`markdown` or `plain`.")
    text: str

    @strawberry.field(
        description="The text as sanitised HTML (core/rich_text.py): safe to insert as it is; "
        'links only http, https and mailto, with `rel="noopener noreferrer"`.'
    )
    def html(self) -> str:
        return to_html(self.text, self.format)


@strawberry.type
class LinkBody:
    url: str
    label: str | None


async def _asset(info: Info, asset_id: str | None) -> Asset | None:
    """The library asset a block uses; null when it was deleted since (or none is used)."""
    if asset_id is None:
        return None
    row = await info.context.loaders.asset_by_id.load(uuid.UUID(asset_id))
    return None if row is None else Asset.from_model(row)


ASSET = (
    "The library asset it shows (its signed `url`, size and type); null once the asset was deleted."
)


@strawberry.type
class FileBody:
    url: str
    name: str
    size_bytes: int | None
    mime_type: str | None


@strawberry.type
class VideoBody:
    url: str
    caption: str | None


@strawberry.type(description="An image of the asset library.")
class ImageBody:
    alt: str | None = strawberry.field(description="The text that stands for the image.")
    caption: str | None
    asset_id: strawberry.Private[str]

    @strawberry.field(description=ASSET)
    async def asset(self, info: Info) -> Asset | None:
        return await _asset(info, self.asset_id)


@strawberry.type
class GalleryBodyItem:
    caption: str | None
    asset_id: strawberry.Private[str]

    @strawberry.field(description=ASSET)
    async def asset(self, info: Info) -> Asset | None:
        return await _asset(info, self.asset_id)


@strawberry.type(description="Images (or videos) of the asset library, in order.")
class GalleryBody:
    items: list[GalleryBodyItem]


@strawberry.type
class EmbedBody:
    url: str
    title: str | None
    height: int | None


@strawberry.type
class ChecklistBodyItem:
    text: str
    checked: bool


@strawberry.type
class ChecklistBody:
    items: list[ChecklistBodyItem]


AnyBody = (
    HeadingBody
    | RichTextBody
    | LinkBody
    | FileBody
    | VideoBody
    | EmbedBody
    | ChecklistBody
    | ImageBody
    | GalleryBody
)
BlockBody = Annotated[
    AnyBody, strawberry.union("BlockBody", description="A block's content, typed by its kind.")
]


def typed_body(kind: str, body: Any) -> AnyBody:
    """The typed form of a stored (already validated) body."""
    if kind == "heading":
        return HeadingBody(text=body["text"], level=body.get("level", 2))
    if kind == "rich_text":
        return RichTextBody(format=body.get("format", "markdown"), text=body["text"])
    if kind == "link":
        return LinkBody(url=body["url"], label=body.get("label"))
    if kind == "file":
        return FileBody(
            url=body["url"],
            name=body["name"],
            size_bytes=body.get("sizeBytes"),
            mime_type=body.get("mimeType"),
        )
    if kind == "video":
        return VideoBody(url=body["url"], caption=body.get("caption"))
    if kind == "image":
        return ImageBody(alt=body.get("alt"), caption=body.get("caption"), asset_id=body["assetId"])
    if kind == "gallery":
        return GalleryBody(
            items=[
                GalleryBodyItem(caption=item.get("caption"), asset_id=item["assetId"])
                for item in body["items"]
            ]
        )
    if kind == "embed":
        return EmbedBody(url=body["url"], title=body.get("title"), height=body.get("height"))
    if kind == "checklist":
        return ChecklistBody(
            items=[
                ChecklistBodyItem(text=item["text"], checked=item.get("checked", False))
                for item in body["items"]
            ]
        )
    raise ValueError(f"no typed body for block kind {kind!r}")
