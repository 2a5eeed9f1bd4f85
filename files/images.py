"""Images by libvips (pyvips), the synchronous part: the original cleaned on upload (orientation applied, then
EXIF, XMP, IPTC and text chunks dropped), its dimensions and a tiny placeholder, and variants
made on first request and cached in storage beside the original (docs/files.md).

A variant is named by bounded parameters only (`VariantSpec`): widths and heights from
`WIDTHS`, qualities from `QUALITIES`, three fits, four formats. The name travels inside a
signed link (files/links.py), and is parsed back strictly here, so nobody can make the server
render a size it does not offer. Every decode shrinks on load and reads sequentially, so a
variant of a 12-megapixel JPEG never holds the whole decoded image. This module imports
libvips and nothing else of ours; files/variants.py runs it against storage.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import os
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyvips

# the widths (and heights) a variant may have; srcset offers the ones below the original's
WIDTHS = (64, 128, 256, 512, 768, 1024, 1536, 2048)
QUALITIES = (40, 60, 75, 85, 95)
FITS = ("inside", "cover", "contain")
FORMATS = {"webp": "image/webp", "avif": "image/avif", "jpeg": "image/jpeg", "png": "image/png"}
# the saver's default quality per format (AVIF holds up at lower numbers)
DEFAULT_QUALITY = {"webp": 75, "avif": 60, "jpeg": 85, "png": 95}
# what libvips reads that we clean and vary
CLEANED = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/avif": ".avif",
    "image/gif": ".gif",
    "image/tiff": ".tif",
}
# images that carry no metadata, kept as files (never varied); any other image type could
# carry a location we cannot remove (HEIC: the wheel has no HEVC codec) and is refused
NO_METADATA = frozenset({"image/bmp", "image/x-icon", "image/vnd.microsoft.icon"})
UNREADABLE = "IMAGE_UNREADABLE"
# a decompression bomb's guard: more pixels than this are not decoded
MAX_PIXELS = 100_000_000
# "no limit" for thumbnail's box: only shrinks, orientation applied
UNBOUNDED = 10_000_000
PLACEHOLDER_SIZE = 16
# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
# (mmap threshold, trim threshold) while a render runs, and while none does
RENDERING = (64 * 1024, 128 * 1024)
SERVING = (1 << 20, 4 << 20)

# the colour profile is kept (colours would shift without it); nothing else is
KEEP = pyvips.enums.ForeignKeep.ICC
# metadata fields whose presence means the original must be rewritten
_METADATA = re.compile(r"^(exif-|xmp-data|iptc-data|png-comment|gif-comment|orientation)")
_NAME = re.compile(
    r"w(?P<w>\d{1,4})(?:-h(?P<h>\d{1,4}))?(?:-(?P<fit>cover|contain))?(?:-q(?P<q>\d{2}))?"
    r"\.(?P<fmt>webp|avif|jpeg|png)"
)


class _Malloc:
    """glibc's thresholds, set for what the process is doing. A render's tens of MB of pixels
    freed into the heap would stay resident after it and fragment the next (the mmap
    threshold grows with each large buffer freed, and every thread gets an arena): while
    any render runs, buffers from 64 KiB are mapped and unmapped on their own. While none
    does, only buffers from 1 MiB are: answering requests allocates and frees buffers of a
    few hundred KiB (a large answer, its copies), each mapped, faulted in page by page and
    unmapped again under the render setting, a fifth of such a request's CPU. Two arenas.
    The operator's MALLOC_MMAP_THRESHOLD_ / MALLOC_ARENA_MAX win."""

    def __init__(self) -> None:
        self.libc: Any = None
        self.lock = threading.Lock()
        self.renders = 0
        if sys.platform != "linux" or "MALLOC_MMAP_THRESHOLD_" in os.environ:
            return
        try:
            self.libc = ctypes.CDLL("libc.so.6")
        except OSError:  # not glibc (musl, Alpine): its allocator returns memory anyway
            return
        self._set(SERVING)
        if "MALLOC_ARENA_MAX" not in os.environ:
            self.libc.mallopt(M_ARENA_MAX, 2)

    def _set(self, thresholds: tuple[int, int]) -> None:
        mmap, trim = thresholds
        self.libc.mallopt(M_MMAP_THRESHOLD, mmap)
        self.libc.mallopt(M_TRIM_THRESHOLD, trim)

    @contextlib.contextmanager
    def rendering(self) -> Iterator[None]:
        if self.libc is None:
            yield
            return
        with self.lock:
            self.renders += 1
            if self.renders == 1:
                self._set(RENDERING)
        try:
            yield
        finally:
            with self.lock:
                self.renders -= 1
                if self.renders == 0:
                    self._set(SERVING)


malloc = _Malloc()
pyvips.cache_set_max(0)  # no operation cache: each render's memory is freed at its end
# one thread per render (files.variants.RENDERS of them at once): a render's buffers are per thread
pyvips.concurrency_set(1)


class ImageRefused(ValueError):
    """Parameters outside the offered set, or an image libvips cannot (or will not) read.
    `code` is stable, for GraphQL errors and user errors."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_cleanable(media_type: str) -> None:
    """ImageRefused (IMAGE_TYPE_UNSUPPORTED) for an image whose metadata cannot be removed."""
    if media_type.startswith("image/") and media_type not in CLEANED.keys() | NO_METADATA:
        raise ImageRefused(
            "IMAGE_TYPE_UNSUPPORTED",
            f"Images of type {media_type} cannot be cleaned of their location and author "
            "metadata here: upload them as JPEG, PNG, WebP or AVIF.",
        )


def unreadable() -> ImageRefused:
    return ImageRefused(UNREADABLE, "This image could not be read; it may be damaged.")


@dataclass(frozen=True)
class VariantSpec:
    width: int
    height: int | None = None
    fit: str = "inside"
    format: str = "webp"
    quality: int | None = None

    @property
    def name(self) -> str:
        """The variant's storage name (`files.storage.variant_key`), e.g. `w512-h512-cover.webp`."""
        parts = [f"w{self.width}"]
        if self.height is not None:
            parts.append(f"h{self.height}")
        if self.fit != "inside":
            parts.append(self.fit)
        if self.quality is not None:
            parts.append(f"q{self.quality}")
        return "-".join(parts) + "." + self.format

    @property
    def media_type(self) -> str:
        return FORMATS[self.format]

    @classmethod
    def parse(cls, name: str) -> VariantSpec | None:
        """The spec a name stands for, or None when it is not exactly one this module makes."""
        match = _NAME.fullmatch(name)
        if match is None:
            return None
        h, q = match.group("h"), match.group("q")
        try:
            spec = variant_spec(
                int(match.group("w")),
                int(h) if h else None,
                match.group("fit") or "inside",
                match.group("fmt"),
                int(q) if q else None,
            )
        except ImageRefused:
            return None
        return spec if spec.name == name else None


def variant_spec(
    width: int,
    height: int | None = None,
    fit: str = "inside",
    format: str = "webp",
    quality: int | None = None,
) -> VariantSpec:
    """A variant's parameters, checked against the offered set (ImageRefused otherwise)."""
    offered = ", ".join(map(str, WIDTHS))
    if width not in WIDTHS:
        raise ImageRefused("IMAGE_SIZE_NOT_OFFERED", f"The width must be one of {offered}.")
    if height is not None and height not in WIDTHS:
        raise ImageRefused("IMAGE_SIZE_NOT_OFFERED", f"The height must be one of {offered}.")
    if fit not in FITS:
        raise ImageRefused("IMAGE_FIT_UNKNOWN", f"The fit must be one of {', '.join(FITS)}.")
    if format not in FORMATS:
        raise ImageRefused(
            "IMAGE_FORMAT_UNKNOWN", f"The format must be one of {', '.join(FORMATS)}."
        )
    if quality is not None and quality not in QUALITIES:
        raise ImageRefused(
            "IMAGE_QUALITY_NOT_OFFERED",
            f"The quality must be one of {', '.join(map(str, QUALITIES))}.",
        )
    if height is None:
        fit = "inside"  # a box with one side fits inside it whatever was asked: one name
    return VariantSpec(width, height, fit, format, quality)


def srcset_widths(original_width: int) -> Iterator[tuple[int, int]]:
    """(offered width, width it comes out at) for a srcset: every offered width below the
    original's, then the first at or past it, which gives the original's own width."""
    for width in WIDTHS:
        yield width, min(width, original_width)
        if width >= original_width:
            return


# rendering (synchronous: call through anyio.to_thread)


def _load(
    path: str, width: int, height: int, *, frames: bool = False, **options: Any
) -> pyvips.Image:
    header = pyvips.Image.new_from_file(path, access="sequential")
    if header.width * header.height * (header.get_n_pages() if frames else 1) > MAX_PIXELS:
        raise ImageRefused(
            "IMAGE_TOO_LARGE", f"Images may have at most {MAX_PIXELS // 1_000_000} megapixels."
        )
    # thumbnail applies the EXIF orientation and shrinks while decoding (JPEG, WebP); every
    # frame of an animation only when asked (a variant is its first frame)
    source = f"{path}[n=-1]" if frames else path
    return pyvips.Image.thumbnail(source, width, height=height, size="down", **options)


def _save_options(suffix: str, quality: int | None) -> dict[str, Any]:
    options: dict[str, Any] = {"keep": KEEP}
    if quality is not None and suffix != ".png":
        options["Q"] = quality
    if suffix == ".avif":
        options["effort"] = 2  # the default (4) is several times slower and larger in memory
    if suffix == ".png":
        options["compression"] = 6
    return options


@malloc.rendering()
def render(path: str, spec: VariantSpec) -> bytes:
    """The variant `spec` of the original in the file at `path`."""
    height = spec.height or UNBOUNDED
    options: dict[str, Any] = {}
    if spec.fit == "cover":
        options["crop"] = "centre"
    image = _load(path, spec.width, height, **options)
    if spec.fit == "contain" and spec.height is not None:
        # letterboxed to the exact box: transparent where the format has alpha, else white
        if spec.format == "jpeg":
            image = image.flatten(background=[255, 255, 255]) if image.hasalpha() else image
            extend: dict[str, Any] = {"extend": "white"}
        else:
            image = image if image.hasalpha() else image.bandjoin(255)
            extend = {"extend": "background", "background": [0] * image.bands}
        image = image.gravity("centre", spec.width, spec.height, **extend)
    elif spec.format == "jpeg" and image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    suffix = ".jpg" if spec.format == "jpeg" else "." + spec.format
    quality = spec.quality or DEFAULT_QUALITY[spec.format]
    return bytes(image.write_to_buffer(suffix, **_save_options(suffix, quality)))


@dataclass(frozen=True)
class Cleaned:
    """What cleaning an original found: whether it was rewritten (it had metadata), its
    upright dimensions, a placeholder, and which kinds of metadata were removed."""

    rewritten: bool
    width: int
    height: int
    placeholder: str
    removed: tuple[str, ...]


def _removed(image: pyvips.Image) -> tuple[str, ...]:
    fields = image.get_fields()
    found = []
    for kind, prefixes in (
        ("exif", ("exif-",)),
        ("xmp", ("xmp-data",)),
        ("iptc", ("iptc-data",)),
        ("comments", ("png-comment", "gif-comment")),
    ):
        if any(f.startswith(prefixes) for f in fields):
            found.append(kind)
    return tuple(found)


def placeholder(path: str) -> str:
    """A tiny WebP of an image, as a data URI (a few hundred bytes): shown blurred while
    the real image loads."""
    small = pyvips.Image.thumbnail(path, PLACEHOLDER_SIZE, height=PLACEHOLDER_SIZE)
    data = small.write_to_buffer(".webp", Q=40, keep=pyvips.enums.ForeignKeep.NONE)
    return "data:image/webp;base64," + base64.b64encode(data).decode()


@malloc.rendering()
def clean(path: str, media_type: str, out: str) -> Cleaned:
    """Clean the original at `path`: when it carries metadata, write it to `out` with its
    orientation applied and its metadata removed (re-encoded; else left alone). Its
    dimensions and placeholder. ImageRefused when libvips cannot read it."""
    suffix = CLEANED[media_type]
    try:
        header = pyvips.Image.new_from_file(path, access="sequential")
        removed = _removed(header)
        animated = suffix in (".gif", ".webp") and header.get_n_pages() > 1
        image = _load(path, UNBOUNDED, UNBOUNDED, frames=animated)
        width = image.width
        height = image.get("page-height") if animated else image.height
        rewrite = bool(removed) or any(_METADATA.match(f) for f in header.get_fields())
        if rewrite:
            quality = None if suffix in (".png", ".gif") else 90
            image.write_to_file(out + suffix, **_save_options(suffix, quality))
            os.replace(out + suffix, out)
        return Cleaned(rewrite, width, height, placeholder(out if rewrite else path), removed)
    except pyvips.Error:
        raise unreadable() from None
