"""The embedded default dataset: generated offline, deterministically, from real photos.

Source photos are natural photos that installed wheels ship (scikit-image, scikit-learn,
matplotlib), so nothing is downloaded. Each is centre-cropped to a square and cut into
`tiles_per_side`^2 tiles of `image_size` px (more reference content per photo, at the models'
input size so no resize smooths the distortions away), and every tile is degraded KADID-10k
style by every distortion at every level. Labels are SYNTHETIC: a pseudo-MOS of 100 x a
full-reference metric of the distorted tile against its pristine tile (HaarPSI by default: SRCC
0.89 with people on KADID-10k, against MS-SSIM's 0.80, as piq reproduces them), so the set can
exercise and train the pipeline, not rank real-world quality models. Tiles of one photo share a
`content` value, so splits keep them on one side.

Distortion level units (params.yaml `data.sources.embedded.distortions`):
gaussian_blur sigma px | motion_blur kernel length px | white_noise variance |
impulse_noise pixel fraction | multiplicative_noise speckle variance | jpeg quality |
jpeg2000 compression ratio | contrast_decrease / brighten / darken / desaturate PIL enhance
factor | pixelate block px | color_quantization palette size.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import piq
import torch
from PIL import Image, ImageEnhance, ImageFilter
from scipy import ndimage
from skimage import data as skimage_data
from skimage.util import random_noise
from torchmetrics.functional.image import (
    multiscale_structural_similarity_index_measure,
    structural_similarity_index_measure,
)

from dpiqa.config import EmbeddedSource
from dpiqa.data.cards import card
from dpiqa.data.manifest import build_manifest
from dpiqa.errors import DPIQAError

KEY = "embedded"
PRISTINE = "pristine"


def _sklearn_photo(name: str) -> np.ndarray:
    from sklearn.datasets import load_sample_image

    return load_sample_image(name)


def _matplotlib_photo(name: str) -> np.ndarray:
    from matplotlib import cbook

    with cbook.get_sample_data(name) as handle:
        return np.asarray(Image.open(handle).convert("RGB"))


PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": skimage_data.astronaut,
    "coffee": skimage_data.coffee,
    "chelsea": skimage_data.chelsea,
    "rocket": skimage_data.rocket,
    "hubble_deep_field": skimage_data.hubble_deep_field,
    "camera": skimage_data.camera,
    "coins": skimage_data.coins,
    "moon": skimage_data.moon,
    "clock": skimage_data.clock,
    "brick": skimage_data.brick,
    "grass": skimage_data.grass,
    "gravel": skimage_data.gravel,
    "immunohistochemistry": skimage_data.immunohistochemistry,
    "retina": skimage_data.retina,
    "china": lambda: _sklearn_photo("china.jpg"),
    "flower": lambda: _sklearn_photo("flower.jpg"),
    "grace_hopper": lambda: _matplotlib_photo("grace_hopper.jpg"),
}


def load_photo(name: str, size: int) -> Image.Image:
    """A shipped photo as RGB, centre-cropped to a square and resized to `size`."""
    try:
        loader = PHOTOS[name]
    except KeyError:
        raise DPIQAError(f"unknown embedded photo {name!r}; known: {', '.join(PHOTOS)}") from None
    image = Image.fromarray(loader()).convert("RGB")
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    return square.resize((size, size), Image.Resampling.LANCZOS)


def photo_tiles(name: str, tile_size: int, tiles_per_side: int) -> list[Image.Image]:
    """The photo's square, resized to `tiles_per_side` tiles a side, cut row by row."""
    square = load_photo(name, tile_size * tiles_per_side)
    return [
        square.crop((col * tile_size, row * tile_size, (col + 1) * tile_size, (row + 1) * tile_size))
        for row in range(tiles_per_side)
        for col in range(tiles_per_side)
    ]


def _as_image(array: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(array, 0, 1) * 255).round().astype(np.uint8))


def _as_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64) / 255


def _reencode(image: Image.Image, **save_options) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, **save_options)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def _motion_blur(image: Image.Image, length: float, _: np.random.Generator) -> Image.Image:
    blurred = ndimage.uniform_filter1d(_as_array(image), size=int(length), axis=1, mode="reflect")
    return _as_image(blurred)


def _noise(mode: str, amount_name: str) -> Callable[[Image.Image, float, np.random.Generator], Image.Image]:
    def apply(image: Image.Image, amount: float, rng: np.random.Generator) -> Image.Image:
        noisy = random_noise(_as_array(image), mode=mode, rng=rng, **{amount_name: amount})
        return _as_image(noisy)

    return apply


def _pixelate(image: Image.Image, block: float, _: np.random.Generator) -> Image.Image:
    small = (max(1, round(image.width / block)), max(1, round(image.height / block)))
    return image.resize(small, Image.Resampling.BOX).resize(image.size, Image.Resampling.NEAREST)


def _enhance(enhancer: type) -> Callable[[Image.Image, float, np.random.Generator], Image.Image]:
    return lambda image, factor, _: enhancer(image).enhance(factor)


DISTORTIONS: dict[str, Callable[[Image.Image, float, np.random.Generator], Image.Image]] = {
    "gaussian_blur": lambda image, sigma, _: image.filter(ImageFilter.GaussianBlur(sigma)),
    "motion_blur": _motion_blur,
    "white_noise": _noise("gaussian", "var"),
    "impulse_noise": _noise("s&p", "amount"),
    "multiplicative_noise": _noise("speckle", "var"),
    "jpeg": lambda image, quality, _: _reencode(image, format="JPEG", quality=int(quality)),
    "jpeg2000": lambda image, ratio, _: _reencode(
        image, format="JPEG2000", quality_mode="rates", quality_layers=[ratio]
    ),
    "contrast_decrease": _enhance(ImageEnhance.Contrast),
    "brighten": _enhance(ImageEnhance.Brightness),
    "darken": _enhance(ImageEnhance.Brightness),
    "desaturate": _enhance(ImageEnhance.Color),
    "pixelate": _pixelate,
    "color_quantization": lambda image, colors, _: image.quantize(int(colors)).convert("RGB"),
}


def _to_tensor(images: list[Image.Image]) -> torch.Tensor:
    return torch.from_numpy(np.stack([_as_array(i) for i in images])).permute(0, 3, 1, 2).float()


def full_reference_scores(
    distorted: list[Image.Image], pristine: Image.Image, metric: str
) -> np.ndarray:
    """Per-image similarity to the pristine photo, clipped to [0, 1]."""
    preds = _to_tensor(distorted)
    target = _to_tensor([pristine]).expand_as(preds)
    if metric == "haarpsi":
        scores = piq.haarpsi(preds, target, data_range=1.0, reduction="none")
    elif metric == "vsi":
        scores = piq.vsi(preds, target, data_range=1.0, reduction="none")
    elif metric == "ms_ssim":
        scores = multiscale_structural_similarity_index_measure(
            preds, target, data_range=1.0, reduction="none", normalize="relu"
        )
    else:
        scores = structural_similarity_index_measure(preds, target, data_range=1.0, reduction="none")
    return scores.clamp(0, 1).numpy()


def _degrade(
    pristine: Image.Image, config: EmbeddedSource, seed: list[int]
) -> list[tuple[str, int, Image.Image]]:
    """(distortion, level, image) for every distortion at every level, pristine first."""
    variants = [(PRISTINE, 0, pristine)]
    for distortion_index, (distortion, amounts) in enumerate(config.distortions.items()):
        for level, amount in enumerate(amounts, start=1):
            rng = np.random.default_rng([*seed, distortion_index, level])
            variants.append((distortion, level, DISTORTIONS[distortion](pristine, amount, rng)))
    return variants


def generate(config: EmbeddedSource, root: Path, seed: int) -> pd.DataFrame:
    """Write the images under `root/images/<photo>/` and return the manifest."""
    unknown = set(config.distortions) - set(DISTORTIONS)
    if unknown:
        raise DPIQAError(f"unknown distortions {sorted(unknown)}; known: {', '.join(DISTORTIONS)}")
    rows = []
    for photo_index, photo in enumerate(config.photos):
        folder = root / "images" / photo
        folder.mkdir(parents=True, exist_ok=True)
        for tile_index, pristine in enumerate(photo_tiles(photo, config.image_size, config.tiles_per_side)):
            stem = f"{photo}_t{tile_index}"
            variants = _degrade(pristine, config, [seed, photo_index, tile_index])
            names = [
                f"images/{photo}/{stem}.png" if kind == PRISTINE else f"images/{photo}/{stem}_{kind}_{level}.png"
                for kind, level, _ in variants
            ]
            for name, (_, _, image) in zip(names, variants):
                image.save(root / name)
            scores = full_reference_scores([image for _, _, image in variants], pristine, config.label_metric)
            rows.append(
                pd.DataFrame(
                    {
                        "image": names,
                        "mos_raw": 100 * scores,
                        "ref_image": names[0],
                        "content": photo,
                        "distortion": [kind for kind, _, _ in variants],
                        "distortion_level": [level for _, level, _ in variants],
                    }
                )
            )
    table = pd.concat(rows, ignore_index=True)
    return build_manifest(
        KEY,
        table["image"],
        table["mos_raw"],
        card(KEY).mos_range,
        label_source=f"synthetic:{config.label_metric}",
        ref_image=table["ref_image"],
        content=table["content"],
        distortion=table["distortion"],
        distortion_level=table["distortion_level"],
    )
