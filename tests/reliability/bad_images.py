"""A catalogue of the image files users send: broken ones, and valid ones in unusual formats.

Each case writes its file into a folder and says what must happen: refused with a reason, or
decoded to upright RGB of a known size.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

SIDE = 64
BOMB_SIDE = 8000  # 64M pixels: over the 50M limit in params.yaml, yet only ~70 kB as a PNG


def _photo(width: int = SIDE, height: int = SIDE, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def _encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _exif_rotated() -> bytes:
    """A 96x64 JPEG whose EXIF says 'rotate 90': upright it is 64x96."""
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    return _encoded(_photo(96, 64), "JPEG", exif=exif)


def _palette_with_transparency() -> bytes:
    palette = _photo().convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return _encoded(palette, "PNG", transparency=0)


def _sixteen_bit() -> bytes:
    ramp = np.linspace(0, 65535, SIDE * SIDE).reshape(SIDE, SIDE).astype(np.uint16)
    return _encoded(Image.fromarray(ramp), "PNG")


def _bomb() -> bytes:
    return _encoded(Image.new("L", (BOMB_SIDE, BOMB_SIDE)), "PNG", optimize=False, compress_level=9)


@dataclass(frozen=True)
class Case:
    name: str  # also the file name
    content: Callable[[], bytes]
    refused_because: str | None = None  # a phrase of the error; None: decoded
    upright_size: tuple[int, int] = (SIDE, SIDE)

    def write(self, folder: Path) -> Path:
        path = folder / self.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.content())
        return path


CASES = [
    Case("empty.png", lambda: b"", "empty file"),
    Case("truncated.jpg", lambda: _encoded(_photo(), "JPEG")[:400], "not a readable image"),
    Case("truncated.png", lambda: _encoded(_photo(), "PNG")[:400], "not a readable image"),
    Case("text-named.jpg", lambda: b"these are notes, not pixels\n" * 20, "not a readable image"),
    Case("tiny.png", lambda: _encoded(_photo(16, 16), "PNG"), "smaller than 32 px"),
    Case("bomb.png", _bomb, "too many pixels"),
    Case("grayscale.png", lambda: _encoded(_photo().convert("L"), "PNG")),
    Case("rgba.png", lambda: _encoded(_photo().convert("RGBA"), "PNG")),
    Case("palette.png", _palette_with_transparency),
    Case("cmyk.jpg", lambda: _encoded(_photo().convert("CMYK"), "JPEG")),
    Case("sixteen-bit.png", _sixteen_bit),
    Case("exif-rotated.jpg", _exif_rotated, upright_size=(64, 96)),
]
REFUSED = [case for case in CASES if case.refused_because]
DECODED = [case for case in CASES if not case.refused_because]
