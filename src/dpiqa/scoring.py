"""Scoring images with a trained model: decode each safely, score in batches, keep going on errors.

Every input gets a row: its score on [0, 1] and on the training dataset's MOS scale, or the
reason it could not be scored. One bad file never costs the rest of the batch.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torch import nn
from tqdm.auto import tqdm

from dpiqa.data.loading import image_transform, to_rgb

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
MIN_SIDE = 32  # px, as params.yaml validate.min_image_side: smaller inputs say nothing about quality
SCORE_BATCH_SIZE = 16
MAX_PATH_LENGTH = 4096  # longer inputs are base64 data, not file paths
BASE64_NAME = "<base64 image>"


class ImageError(ValueError):
    pass


@dataclass
class ScoredImage:
    source: str
    score: float | None = None
    score_mos: float | None = None
    error: str | None = None


def decode(data: bytes, source: str) -> Image.Image:
    """RGB from image bytes (EXIF orientation applied), or an ImageError saying why not."""
    if not data:
        raise ImageError(f"{source}: empty file")
    try:
        rgb = to_rgb(io.BytesIO(data))
    except Image.DecompressionBombError as error:
        raise ImageError(f"{source}: refused, too many pixels ({error})") from error
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"{source}: not a readable image ({type(error).__name__}: {error})") from error
    if min(rgb.size) < MIN_SIDE:
        raise ImageError(f"{source}: {rgb.width}x{rgb.height} is smaller than {MIN_SIDE} px")
    return rgb


def read_source(item: str) -> tuple[str, bytes]:
    """A file path, or an image as base64 text; returns a display name and the bytes."""
    try:
        is_file = len(item) < MAX_PATH_LENGTH and Path(item).exists()
    except OSError:  # e.g. a base64 string too long to be a file name
        is_file = False
    if is_file:
        try:
            return item, Path(item).read_bytes()
        except OSError as error:
            raise ImageError(f"{item}: cannot be read ({error.strerror})") from error
    try:
        return BASE64_NAME, base64.b64decode(item, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ImageError(f"{item[:60]!r}: neither an existing file nor base64 image data") from error


def find_images(paths: Iterable[str]) -> Iterator[str]:
    """Files as given, and image files found recursively in folders, in sorted order."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from (str(p) for p in sorted(path.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        else:
            yield raw


def to_mos_scale(score: float, mos_range: list[float]) -> float:
    low, high = mos_range
    return low + score * (high - low)


@torch.inference_mode()
def score_images(
    model: nn.Module,
    items: list[str],
    *,
    image_size: int,
    mos_range: list[float],
    batch_size: int,
    progress: bool = False,
) -> list[ScoredImage]:
    model.eval()
    transform = image_transform(image_size)
    results: list[ScoredImage] = []
    for start in tqdm(range(0, len(items), batch_size), disable=not progress, unit="batch"):
        decoded: list[tuple[ScoredImage, torch.Tensor]] = []
        for item in items[start : start + batch_size]:
            result = ScoredImage(item if len(item) < MAX_PATH_LENGTH else BASE64_NAME)
            results.append(result)
            try:
                name, data = read_source(item)
                decoded.append((result, transform(decode(data, name))))
            except ImageError as error:
                result.error = str(error)
        if decoded:
            scores = model(torch.stack([tensor for _, tensor in decoded]))[0].float().tolist()
            for (result, _), score in zip(decoded, scores):
                result.score, result.score_mos = score, to_mos_scale(score, mos_range)
    return results
