"""The body schema of each block kind. Unknown keys are refused, not silently stored."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

Text = Annotated[str, Field(min_length=1, max_length=50_000)]
Short = Annotated[str, Field(min_length=1, max_length=300)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Url(_Body):
    url: str = Field(max_length=2048)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        AnyHttpUrl(value)  # raises on anything but an absolute http(s) URL
        return value


class Heading(_Body):
    text: Short
    level: int = Field(default=2, ge=1, le=6)


class RichText(_Body):
    format: Literal["markdown", "plain"] = "markdown"
    text: Text


class Link(_Url):
    label: Short | None = None


# an asset of the tenant's library (files/), by its id; what it is, who may read it and its
# URL are the asset's (a block never holds a file's bytes or a link to them)
AssetId = Annotated[
    str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]


class File(_Url):
    name: Short
    size_bytes: int | None = Field(default=None, ge=0, alias="sizeBytes")
    mime_type: Short | None = Field(default=None, alias="mimeType")


class Video(_Url):
    caption: Short | None = None


class Image(_Body):
    asset_id: AssetId = Field(alias="assetId")
    alt: Short | None = None
    caption: Short | None = None


class GalleryItem(_Body):
    asset_id: AssetId = Field(alias="assetId")
    caption: Short | None = None


class Gallery(_Body):
    items: list[GalleryItem] = Field(min_length=1, max_length=100)


class Embed(_Url):
    title: Short | None = None
    height: int | None = Field(default=None, ge=50, le=4000)


class ChecklistItem(_Body):
    text: Short
    checked: bool = False


class Checklist(_Body):
    items: list[ChecklistItem] = Field(min_length=1, max_length=200)


BODIES: dict[str, type[_Body]] = {
    "heading": Heading,
    "rich_text": RichText,
    "link": Link,
    "file": File,
    "video": Video,
    "embed": Embed,
    "checklist": Checklist,
    "image": Image,
    "gallery": Gallery,
}


def _keys(model: type[_Body]) -> tuple[frozenset[str], frozenset[str]]:
    """The keys a body of `model` may hold (unknown ones are refused) and must hold."""
    fields = model.model_fields
    allowed = frozenset(f.alias or name for name, f in fields.items())
    required = frozenset(f.alias or name for name, f in fields.items() if f.is_required())
    return allowed, required


_KEYS = {kind: _keys(model) for kind, model in BODIES.items()}


class BodyError(ValueError):
    def __init__(self, path: list[str], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def valid_bodies(body: Any) -> dict[str, dict[str, Any]]:
    """The normalised body for every kind it is valid for (no error detail: cheaper when most
    kinds refuse it, as for an update that does not read the block's kind first)."""
    if not isinstance(body, dict):
        return {}
    keys = body.keys()
    out: dict[str, dict[str, Any]] = {}
    for kind, model in BODIES.items():
        allowed, required = _KEYS[kind]
        if not (keys <= allowed and required <= keys):
            continue  # refused on its keys alone: spare the validation error's cost
        try:
            parsed = model.model_validate(body)
        except ValidationError:
            continue
        out[kind] = parsed.model_dump(by_alias=True, exclude_none=True)
    return out


def validate_body(kind: str, body: Any) -> dict[str, Any]:
    """The normalised body for `kind`, or BodyError naming the first bad field."""
    if not isinstance(body, dict):
        raise BodyError([], "The body must be a JSON object.")
    try:
        parsed = BODIES[kind].model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = [str(p) for p in first["loc"]]
        where = ".".join(path) or "body"
        raise BodyError(path, f"{where}: {first['msg'].rstrip('.')}.") from None
    return parsed.model_dump(by_alias=True, exclude_none=True)
