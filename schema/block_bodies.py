"""Typed block bodies: one GraphQL type per block kind, joined in the `BlockBody` union.

The shapes mirror store/block_bodies.py, which validates every body on write; a stored body
is therefore already complete, and defaults below only fill what validation left implicit.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import strawberry

from core.ids import encode_id
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


def _asset_id(asset_pk: str | None) -> strawberry.ID | None:
    return None if asset_pk is None else strawberry.ID(encode_id("Asset", uuid.UUID(asset_pk)))


# nullable like a file's and a video's: union members' fields of one name must agree
ALWAYS = " Always given here."
ASSET_ID = (
    "The ID of the library's asset it shows (read it with `node` or `asset`); its content "
    "stays on the compiled path, the asset's signed links are made per request."
)


ASSET = (
    "The library asset it shows (its signed `url`, size and type); null once the asset was deleted."
)


LIBRARY_URL = (
    "An external file's address; empty for a file of the library: its link is `asset.url`."
)


@strawberry.type(
    description="A file to download: of the asset library (`asset`) or elsewhere (`url`)."
)
class FileBody:
    url: str = strawberry.field(description=LIBRARY_URL)
    name: str
    size_bytes: int | None = strawberry.field(description="An external file's; see `asset`.")
    mime_type: str | None = strawberry.field(description="An external file's; see `asset`.")
    asset_pk: strawberry.Private[str | None] = None

    @strawberry.field(description=ASSET_ID + " Null for an external file.")
    def asset_id(self) -> strawberry.ID | None:
        return _asset_id(self.asset_pk)


@strawberry.type(description="A video: of the asset library (`asset`) or elsewhere (`url`).")
class VideoBody:
    url: str = strawberry.field(description=LIBRARY_URL)
    caption: str | None
    asset_pk: strawberry.Private[str | None] = None

    @strawberry.field(description=ASSET_ID + " Null for an external video.")
    def asset_id(self) -> strawberry.ID | None:
        return _asset_id(self.asset_pk)


@strawberry.type(description="An image of the asset library.")
class ImageBody:
    alt: str | None = strawberry.field(
        description="The text that stands for the image; empty when it is decorative."
    )
    decorative: bool = strawberry.field(
        description="The image adds nothing to the text: shown with an empty alt text."
    )
    caption: str | None
    asset_pk: strawberry.Private[str]

    @strawberry.field(description=ASSET_ID + ALWAYS)
    def asset_id(self) -> strawberry.ID | None:
        return _asset_id(self.asset_pk)

    @strawberry.field(description=ASSET)
    async def asset(self, info: Info) -> Asset | None:
        return await _asset(info, self.asset_pk)


@strawberry.type
class GalleryBodyItem:
    alt: str | None = strawberry.field(description="What the image shows; else its caption.")
    caption: str | None
    asset_pk: strawberry.Private[str]

    @strawberry.field(description=ASSET_ID + ALWAYS)
    def asset_id(self) -> strawberry.ID | None:
        return _asset_id(self.asset_pk)

    @strawberry.field(description=ASSET)
    async def asset(self, info: Info) -> Asset | None:
        return await _asset(info, self.asset_pk)


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
            url=body.get("url", ""),
            name=body["name"],
            size_bytes=body.get("sizeBytes"),
            mime_type=body.get("mimeType"),
            asset_pk=body.get("assetId"),
        )
    if kind == "video":
        return VideoBody(
            url=body.get("url", ""), caption=body.get("caption"), asset_pk=body.get("assetId")
        )
    if kind == "image":
        return ImageBody(
            alt=body.get("alt"),
            decorative=body.get("decorative", False),
            caption=body.get("caption"),
            asset_pk=body["assetId"],
        )
    if kind == "gallery":
        return GalleryBody(
            items=[
                GalleryBodyItem(
                    alt=item.get("alt"), caption=item.get("caption"), asset_pk=item["assetId"]
                )
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
