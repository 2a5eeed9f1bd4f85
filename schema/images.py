"""An asset's image fields in GraphQL: variant URLs (`url(width:, ...)`, `srcset`), the
placeholder, and a document's author metadata (docs/files.md). Variants are signed links
like any download (files.assets.download_url), naming a variant key whose name only
files/images.py's offered parameters can make."""

from __future__ import annotations

import enum

import strawberry

from core.config import Settings
from core.errors import ApiError
from files.assets import download_url
from files.images import CLEANED, ImageRefused, srcset_widths, variant_spec
from files.storage import variant_key
from models import Asset as AssetModel


@strawberry.enum(description="The format of an image variant.")
class ImageFormat(enum.Enum):
    WEBP = "webp"
    AVIF = "avif"
    JPEG = "jpeg"
    PNG = "png"


@strawberry.enum(description="How an image variant fits the box of its width and height.")
class ImageFit(enum.Enum):
    INSIDE = strawberry.enum_value("inside", description="Whole, within the box (the default).")
    COVER = strawberry.enum_value("cover", description="Fills the box, cropped at the centre.")
    CONTAIN = strawberry.enum_value(
        "contain", description="Whole, padded to the box (transparent, or white in JPEG)."
    )


class ImageInputError(ApiError):
    """A variant parameter outside the offered set, or a variant of what is no image."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@strawberry.type(
    description="What a document (PDF, Office, OpenDocument) says about who made it, read "
    "from its metadata at upload: check it before sharing the file. Null fields: not stated."
)
class DocumentMetadata:
    author: str | None = None
    last_modified_by: str | None = None
    company: str | None = None
    manager: str | None = None
    title: str | None = None
    software: str | None = strawberry.field(
        default=None, description="The program that wrote the file."
    )


def is_image(row: AssetModel) -> bool:
    """An image this API varies (its dimensions are known once it was inspected)."""
    return row.media_type in CLEANED and row.width is not None


def variant_url(
    settings: Settings,
    row: AssetModel,
    *,
    public: bool,
    width: int | None,
    height: int | None = None,
    fit: ImageFit | None = None,
    format: ImageFormat | None = None,
    quality: int | None = None,
) -> str:
    """The signed URL of a variant; ImageInputError for parameters outside the offered set
    or an asset that is no image."""
    if not is_image(row):
        raise ImageInputError(
            "NOT_AN_IMAGE", "Only images have variants: ask this asset's url without arguments."
        )
    if width is None:
        raise ImageInputError(
            "IMAGE_SIZE_NOT_OFFERED", "A variant needs a width (height, fit, format, quality)."
        )
    try:
        spec = variant_spec(
            width,
            height,
            (fit or ImageFit.INSIDE).name.lower(),
            (format or ImageFormat.WEBP).name.lower(),
            quality,
        )
    except ImageRefused as refused:
        raise ImageInputError(refused.code, refused.message) from None
    key = variant_key(row.storage_key, spec.name)
    # saved as what it is: photo.jpg's WebP variant is photo.webp
    name = f"{row.name.rsplit('.', 1)[0]}.{'jpg' if spec.format == 'jpeg' else spec.format}"
    return download_url(
        settings, row, public=public, key=key, media_type=spec.media_type, name=name
    )


def srcset(settings: Settings, row: AssetModel, *, public: bool, format: ImageFormat) -> str | None:
    """`url 64w, url 128w, ...` up to the image's own width; None for what is no image."""
    if not is_image(row):
        return None
    assert row.width is not None  # is_image
    return ", ".join(
        f"{variant_url(settings, row, public=public, width=offered, format=format)} {actual}w"
        for offered, actual in srcset_widths(row.width)
    )


def placeholder(row: AssetModel) -> str | None:
    found = (row.details or {}).get("placeholder")
    return found if isinstance(found, str) else None


def document_metadata(row: AssetModel) -> DocumentMetadata | None:
    found = (row.details or {}).get("documentMetadata")
    if not isinstance(found, dict):
        return None
    return DocumentMetadata(
        author=found.get("author"),
        last_modified_by=found.get("lastModifiedBy"),
        company=found.get("company"),
        manager=found.get("manager"),
        title=found.get("title"),
        software=found.get("software"),
    )
