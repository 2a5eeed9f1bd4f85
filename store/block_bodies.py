"""The body schema of each block kind. Unknown keys are refused, not silently stored."""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from store.merge_fields import OPEN, problem

OPEN_BYTES = OPEN.encode()
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


class _Source(_Body):
    """A file or video: an asset of the library (`assetId`) or an external `url`, one of them.
    Refusals carry their code as the error's type (`code_of` below)."""

    url: str | None = Field(default=None, max_length=2048)
    asset_id: AssetId | None = Field(default=None, alias="assetId")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            AnyHttpUrl(value)  # raises on anything but an absolute http(s) URL
        return value

    @model_validator(mode="after")
    def _one_source(self) -> _Source:
        if self.url is None and self.asset_id is None:
            raise PydanticCustomError("source_missing", "Give `assetId` or `url`")
        if self.url is not None and self.asset_id is not None:
            raise PydanticCustomError("source_conflict", "Give `assetId` or `url`, not both")
        return self


class File(_Source):
    name: Short
    # the library's own file tells its size and type; only an external file is described
    size_bytes: int | None = Field(default=None, ge=0, alias="sizeBytes")
    mime_type: Short | None = Field(default=None, alias="mimeType")

    @model_validator(mode="after")
    def _described_once(self) -> File:
        if self.asset_id is not None and (self.size_bytes, self.mime_type) != (None, None):
            raise PydanticCustomError(
                "source_conflict", "`sizeBytes` and `mimeType` are the asset's own: leave them out"
            )
        return self


class Video(_Source):
    caption: Short | None = None


class Image(_Body):
    asset_id: AssetId = Field(alias="assetId")
    alt: str | None = Field(default=None, max_length=300)  # blank: ALT_TEXT_REQUIRED below
    decorative: bool = False
    caption: Short | None = None

    @model_validator(mode="after")
    def _alt_text(self) -> Image:
        # WCAG 1.1.1: every image is described, or marked decorative (an empty alt)
        if self.decorative and self.alt is not None:
            raise PydanticCustomError(
                "alt_text_required", "A decorative image has no alt text: leave `alt` out"
            )
        if not self.decorative and (self.alt is None or not self.alt.strip()):
            raise PydanticCustomError(
                "alt_text_required",
                "Describe the image in `alt`, or mark it `decorative: true`",
            )
        return self


class GalleryItem(_Body):
    asset_id: AssetId = Field(alias="assetId")
    alt: Short | None = None
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


# the refusals with a code of their own (schema/blocks.py BlockErrorCode); any other is
# `invalid_body`
CODES = frozenset({"source_missing", "source_conflict", "alt_text_required"})


class BodyError(ValueError):
    def __init__(
        self,
        path: list[str],
        message: str,
        code: str = "invalid_body",
        offset: int | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.code = code
        # a merge field's zero-based character offset in the text at `path`
        self.offset = offset


@functools.lru_cache(maxsize=256)
def _kinds_for(keys: frozenset[Any]) -> tuple[tuple[str, type[_Body]], ...]:
    """The kinds (in `BODIES`' order) whose keys a body with these keys may hold: no
    unknown one, none required missing (`_KEYS`)."""
    return tuple(
        (kind, model)
        for kind, model in BODIES.items()
        if keys <= _KEYS[kind][0] and _KEYS[kind][1] <= keys
    )


def valid_bodies(body: Any) -> dict[str, dict[str, Any]]:
    """The normalised body for every kind it is valid for (no error detail: cheaper when most
    kinds refuse it, as for an update that does not read the block's kind first)."""
    if not isinstance(body, dict):
        return {}
    out: dict[str, dict[str, Any]] = {}
    # a normalised body's strings are the given body's and the models' defaults, none of
    # which holds a `{{`: without one in the given body, no kind's body has a merge field
    # to check (`problem`)
    try:
        merging = OPEN_BYTES in orjson.dumps(body)
    except orjson.JSONEncodeError:
        merging = True  # each kind's check tells
    # the kinds not refused on their keys alone: spare those validation errors' cost
    for kind, model in _kinds_for(frozenset(body)):
        try:
            # `model_validate`'s own step, without its keyword handling
            parsed = model.__pydantic_validator__.validate_python(body)
        except ValidationError:
            continue
        normal = _stored(parsed)
        if not merging or problem(normal) is None:
            out[kind] = normal
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
        code = first["type"] if first["type"] in CODES else "invalid_body"
        if code == "alt_text_required":
            path = [*path, "alt"]
        where = ".".join(path) or "body"
        raise BodyError(path, f"{where}: {first['msg'].rstrip('.')}.", code) from None
    normal = _stored(parsed)
    bad = problem(normal)
    if bad is not None:
        # every write path checks here (resolver and fast lane): refused with its place
        raise BodyError(bad.path, bad.message, "invalid_merge_field", bad.offset)
    return normal


def _stored(parsed: _Body) -> dict[str, Any]:
    # `model_dump(by_alias=True, exclude_none=True)`'s own step
    body: dict[str, Any] = type(parsed).__pydantic_serializer__.to_python(
        parsed, by_alias=True, exclude_none=True
    )
    if body.get("decorative") is False:
        del body["decorative"]  # the default: bodies stored before it stay alike
    return body


def asset_uses(kind: str, body: dict[str, Any]) -> list[tuple[list[str], str, tuple[str, ...]]]:
    """The assets a valid body of `kind` names: (path, asset id, the asset kinds allowed)."""
    if kind in ("file", "video", "image") and "assetId" in body:
        allowed = {"file": (), "video": ("video",), "image": ("image",)}[kind]
        return [(["assetId"], body["assetId"], allowed)]
    if kind == "gallery":
        return [
            (["items", str(n), "assetId"], item["assetId"], ("image", "video"))
            for n, item in enumerate(body["items"])
        ]
    return []


def names_asset(body: Any) -> bool:
    """Whether a body mentions an asset anywhere (checked against the library on write)."""
    if isinstance(body, dict):
        return "assetId" in body or any(names_asset(v) for v in body.values())
    if isinstance(body, list):
        return any(names_asset(v) for v in body)
    return False
