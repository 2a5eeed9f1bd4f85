#!/usr/bin/env python3
"""Images: peak memory of making variants, and how fast a cached variant is served.

    python bench/images.py memory     # three variants of a 12-megapixel JPEG, peak RSS

`memory` writes a 4000x3000 JPEG (noise, so it compresses like a photo: about 10 MB), then
runs the cleaning of it (orientation, metadata) and three variants (2048 WebP, 1024 AVIF,
512 JPEG) in a fresh subprocess, and prints that process's peak resident memory
(`ru_maxrss`) and the same for a subprocess that only imports the module (the baseline).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = [(2048, "webp"), (1024, "avif"), (512, "jpeg")]


def photo(path: Path, width: int = 4000, height: int = 3000) -> None:
    """Gradients with noise (about 5 MB, like a phone's photo) and its metadata: author,
    GPS position."""
    import pyvips

    xy = pyvips.Image.xyz(width, height)
    red, green = xy[0] * 255 / width, xy[1] * 255 / height
    blue = (xy[0] + xy[1]) * 255 / (width + height)
    noise = pyvips.Image.gaussnoise(width, height, sigma=12, mean=0)
    image = (red.bandjoin([green, blue]) + noise).cast("uchar").copy(interpretation="srgb")
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Artist", "Bench Author")
    image.set_type(pyvips.GValue.gstr_type, "exif-ifd3-GPSLatitude", "48/1 51/1 2400/100")
    image.write_to_file(str(path), Q=90)


def _child(path: str, work: str) -> None:
    """In the subprocess: do the work, then print the peak RSS in MiB."""
    sys.path.insert(0, str(ROOT))
    from files import images

    if work == "photo":
        photo(Path(path))
    if work == "variants":
        cleaned = images.clean(path, "image/jpeg", path + ".clean")
        assert cleaned.rewritten  # the photo carries metadata, as a phone's does
        for width, fmt in SPECS:
            images.render(path + ".clean", images.variant_spec(width, format=fmt))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    hwm = Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]
    print(f"{peak:.1f} {int(hwm) / 1024:.1f}")


def _peak(path: Path, work: str) -> tuple[float, float]:
    """ru_maxrss and VmHWM (MiB) of a subprocess doing `work`. Linux keeps ru_maxrss across
    exec, so the parent stays small: it never loads libvips itself."""
    out = subprocess.run(
        [sys.executable, __file__, "_child", str(path), work],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    rss, hwm = out.stdout.split()
    return float(rss), float(hwm)


def memory() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "photo.jpg"
        _peak(path, "photo")
        size = path.stat().st_size
        base = _peak(path, "import")
        runs = [_peak(path, "variants") for _ in range(3)]
    print(f"12-megapixel JPEG, {size / 1e6:.1f} MB; cleaned, then variants {SPECS}")
    print(f"ru_maxrss per run (MiB): {[r for r, _ in runs]}; VmHWM: {[h for _, h in runs]}")
    print(f"a process that only imports files.images: {base[0]:.1f} MiB")
    peak = max(r for r, _ in runs)
    print("under 64 MiB:", "yes" if peak < 64 else "NO", f"(worst run {peak:.1f} MiB)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        _child(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["memory"])
    parser.parse_args()
    os.chdir(ROOT)
    memory()


if __name__ == "__main__":
    main()
