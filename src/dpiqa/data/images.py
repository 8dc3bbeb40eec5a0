"""Decoding image files and making model inputs: one way for validation, training, evaluation and scoring.

NumPy and Pillow only: scoring with ONNX Runtime never imports torch.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

SIXTEEN_BIT_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}


def to_rgb(source, max_pixels: int | None = None) -> Image.Image:
    """RGB pixels of an image file or stream, upright (EXIF orientation applied): the one
    decoding used for training, evaluation and scoring.

    16-bit images are scaled to 8 bits (PIL alone would clip them to white); images over
    `max_pixels` are refused before decoding.
    """
    if max_pixels is not None:  # ours replaces Pillow's guard (a module setting: warn at 89M, refuse at 179M)
        Image.MAX_IMAGE_PIXELS = None
    with Image.open(source) as image:
        if max_pixels is not None and image.width * image.height > max_pixels:
            raise Image.DecompressionBombError(
                f"{image.width}x{image.height} = {image.width * image.height:,} pixels is over the limit of {max_pixels:,}")
        image.load()
        upright = ImageOps.exif_transpose(image)
        if upright.mode in SIXTEEN_BIT_MODES:
            scaled = np.asarray(upright, dtype=np.float64) * (255 / 65535)
            return Image.fromarray(scaled.round().clip(0, 255).astype(np.uint8)).convert("RGB")
        return upright.convert("RGB")


RESIZE_FILTERS = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


def preprocessing(image_size: int, resize: str) -> dict:
    """What `model_input` does, as plain data: saved in every model's config.json, so that a
    model is scored as it was trained whatever params.yaml says later."""
    return {"image_size": image_size, "resize": resize, "decode": "RGB, EXIF orientation applied, 16-bit scaled to 8",
            "geometry": "Pillow resize (antialiased) to image_size x image_size, no crop, no flip",
            "range": [0, 1], "layout": "float32 CHW"}


def resize_of(preprocessing_config: dict) -> str:
    """The resize filter a saved model was trained with (folders from before it was recorded: bicubic)."""
    recorded = str(preprocessing_config.get("resize", "bicubic")).split(",")[0]
    return recorded if recorded in RESIZE_FILTERS else "bicubic"


def model_input(rgb: Image.Image, image_size: int, resize: str = "bicubic") -> np.ndarray:
    """The models' input: RGB resized to a square (Pillow's `resize` filter, antialiased; no crop,
    no flip), float32 CHW in [0, 1]. Pillow resizes in uint8, so nothing overshoots the range.
    `bilinear` is what the authors' torchvision `Resize((size, size))` does to a PIL image."""
    if rgb.size != (image_size, image_size):
        rgb = rgb.resize((image_size, image_size), RESIZE_FILTERS[resize])
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255)
