"""Quality maps as pictures: each image beside itself overlaid with where its score comes from.

Teacher and student both end in an MLP that reads the quality map (flattened, or position by
position and averaged: `head`), so a map location matters only as far as the score reads it. Its
8 channels are reduced to the first-order contribution of each location (gradient x activation,
summed over channels): positive where the map raises the score, negative where it lowers it,
summing over the map to the score's first-order change from an all-zero map. The channels' plain mean would also show locations the MLP ignores.

The overlay is that contribution relative to the image's mean location, stretched over the image on a diverging scale symmetric
per image: with the default `RdBu`, red marks where the score is pulled down more than on average
and blue less. Relative, because the question is where: the total is the score itself, and a
locally distorted quadrant shows as a dip among mostly positive contributions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402

from dpiqa.config import HeatmapParams  # noqa: E402
from dpiqa.data.images import model_input, to_rgb  # noqa: E402

DPI = 110
COLOURBAR_LABEL = "contribution to the score, minus its image mean"


def score_contributions(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores (N,) in eval mode and each map location's contribution to its score (N, map_size, map_size)."""
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            scores, quality_map = model(images.detach().requires_grad_(True))
            [gradient] = torch.autograd.grad(scores.sum(), quality_map)
    finally:
        model.train(was_training)
    return scores.detach(), (gradient * quality_map).sum(dim=1).detach()


def contributions(model: nn.Module, images: list[Image.Image], image_size: int, batch_size: int,
                  resize: str = "bicubic") -> tuple[np.ndarray, np.ndarray]:
    """Scores (N,) and contribution maps (N, h, w) of RGB images, each as the model's input."""
    scores, maps = [], []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        batch = torch.from_numpy(np.stack([model_input(image, image_size, resize) for image in chunk]))
        batch_scores, batch_maps = score_contributions(model, batch)
        scores.append(batch_scores.numpy())
        maps.append(batch_maps.numpy())
    return np.concatenate(scores), np.concatenate(maps)


def _overlay(axis, image: Image.Image, contribution: np.ndarray, settings: HeatmapParams):
    """Draw the image and its contribution map over it; returns the map's artist for a colour bar."""
    relative = contribution - contribution.mean()
    limit = float(np.abs(relative).max()) or 1.0
    axis.imshow(image)
    artist = axis.imshow(relative, cmap=settings.colormap, vmin=-limit, vmax=limit, alpha=settings.opacity,
                         extent=(0, image.width, image.height, 0), interpolation="bilinear")
    axis.set_axis_off()
    return artist


def render_heatmap(image: Image.Image, contribution: np.ndarray, title: str, settings: HeatmapParams, path: Path) -> Path:
    """One image: itself on the left, with its quality map overlaid on the right."""
    figure, (plain, overlaid) = plt.subplots(1, 2, figsize=(8, 4.2), layout="constrained")
    plain.imshow(image)
    plain.set_axis_off()
    artist = _overlay(overlaid, image, contribution, settings)
    figure.colorbar(artist, ax=overlaid, shrink=0.8, label=COLOURBAR_LABEL)
    figure.suptitle(title)
    return _save(figure, path)


def unique_names(sources: Iterable[str]) -> list[str]:
    """A file name per source (its stem), numbered where two sources share a stem."""
    names, seen = [], {}
    for index, source in enumerate(sources):
        stem = Path(source).stem if not source.startswith("<") else f"image-{index}"
        seen[stem] = seen.get(stem, 0) + 1
        names.append(f"{stem}.png" if seen[stem] == 1 else f"{stem}-{seen[stem]}.png")
    return names


def write_heatmaps(
    model: nn.Module, sources: list[str], load_image: Callable[[str], Image.Image], image_size: int,
    settings: HeatmapParams, folder: Path, batch_size: int, resize: str = "bicubic",
) -> list[Path]:
    """`folder/<image stem>.png` per source, as `dpiqa score --heatmaps` writes them; images are
    loaded (`load_image`) a batch at a time."""
    paths, names = [], unique_names(sources)
    for start in range(0, len(sources), batch_size):
        chunk = sources[start : start + batch_size]
        images = [load_image(source) for source in chunk]
        scores, maps = contributions(model, images, image_size, batch_size, resize)
        for source, name, image, score, contribution in zip(chunk, names[start:], images, scores, maps):
            title = f"{Path(source).name if not source.startswith('<') else name}: score {score:.3f}"
            paths.append(render_heatmap(image, contribution, title, settings, folder / name))
    return paths


def extremes(predictions: pd.DataFrame, name: str, count: int) -> pd.DataFrame:
    """The `count` rows `name` scores highest, then the `count` it scores lowest (fewer for a
    small table: no row twice)."""
    count = min(count, len(predictions) // 2)
    ranked = predictions.sort_values(name, ascending=False, kind="stable")
    return pd.concat([ranked.head(count), ranked.tail(count)])


def extremes_figure(
    model: nn.Module, name: str, predictions: pd.DataFrame, root: Path, image_size: int, resize: str,
    settings: HeatmapParams, path: Path,
) -> Path:
    """The report's maps: the `settings.report_images` test images `name` scores highest (top row)
    and lowest (bottom row), each with its map, prediction and MOS."""
    chosen = extremes(predictions, name, settings.report_images)
    count = len(chosen) // 2
    images = [to_rgb(root / image) for image in chosen["image"]]
    _, maps = contributions(model, images, image_size, len(images), resize)
    figure, axes = plt.subplots(2, count, figsize=(3.2 * count, 7), squeeze=False, layout="constrained")
    for axis, image, contribution, (_, row) in zip(axes.flat, images, maps, chosen.iterrows()):
        artist = _overlay(axis, image, contribution, settings)
        axis.set_title(f"{Path(row['image']).stem}\npredicted {row[name]:.2f}, MOS {row['mos']:.2f}", fontsize=8)
    figure.colorbar(artist, ax=axes.ravel().tolist(), shrink=0.6, label=f"{COLOURBAR_LABEL} (scale per image)")
    figure.suptitle(f"{name}: highest-scored test images (top), lowest-scored (bottom)")
    return _save(figure, path)


def _save(figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    plt.close(figure)
    return path
