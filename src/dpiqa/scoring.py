"""Scoring images with a trained model: decode each safely, score in batches, keep going on errors.

NumPy, Pillow and ONNX Runtime only, until a model needs PyTorch. Every input gets a row: its score on [0, 1] and on the training dataset's MOS scale, or the
reason it could not be scored. One bad file never costs the rest of the batch. The next batch
is decoded in threads while the model scores the current one, on the fastest engine the model
and `score` settings allow (see Scorer).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from dpiqa.config import ScoreParams
from dpiqa.data.images import model_input, resize_of, to_rgb
from dpiqa.errors import DPIQAError
from dpiqa.hardware import cpu_has_native_bf16
from dpiqa.models.folder import ONNX_INPUT, onnx_graph, read_config

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}
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


def decode(data: bytes, source: str, settings: ScoreParams) -> Image.Image:
    """RGB from image bytes (EXIF orientation applied), or an ImageError saying why not."""
    if not data:
        raise ImageError(f"{source}: empty file")
    if len(data) > settings.max_image_bytes:
        raise ImageError(f"{source}: {len(data):,} bytes is over the limit of {settings.max_image_bytes:,}")
    try:
        rgb = to_rgb(io.BytesIO(data), max_pixels=settings.max_image_pixels)
    except Image.DecompressionBombError as error:
        raise ImageError(f"{source}: refused, too many pixels ({error})") from error
    except Exception as error:  # Pillow raises many types on malformed files; each is about this file only
        raise ImageError(f"{source}: not a readable image ({type(error).__name__}: {error})") from error
    if min(rgb.size) < settings.min_image_side:
        raise ImageError(f"{source}: {rgb.width}x{rgb.height} is smaller than {settings.min_image_side} px")
    return rgb


def read_source(item: str, max_bytes: int, accept_paths: bool = True) -> tuple[str, bytes]:
    """A file path (where accepted), or an image as base64 text; returns a display name and the bytes."""
    try:
        is_file = accept_paths and len(item) < MAX_PATH_LENGTH and Path(item).is_file()
    except OSError:  # e.g. a base64 string too long to be a file name
        is_file = False
    if is_file:
        try:
            size = Path(item).stat().st_size
            if size > max_bytes:
                raise ImageError(f"{item}: {size:,} bytes is over the limit of {max_bytes:,}")
            return item, Path(item).read_bytes()
        except OSError as error:
            raise ImageError(f"{item}: cannot be read ({error.strerror})") from error
    if len(item) > max_bytes * 4 // 3 + 4:
        raise ImageError(f"{BASE64_NAME}: {len(item):,} base64 characters is over the limit of {max_bytes:,} bytes")
    try:
        return BASE64_NAME, base64.b64decode(item, validate=True)
    except (binascii.Error, ValueError) as error:
        reason = ("neither an existing file nor base64 image data" if accept_paths
                  else "not base64 image data (file paths are not accepted here)")
        raise ImageError(f"{item[:60]!r}: {reason}") from error


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


def fast_path(precision: str) -> bool:
    return precision == "bf16" or (precision == "auto" and cpu_has_native_bf16())


class OnnxEngine:
    """The student's exported graph on ONNX Runtime: no torch import at all."""

    description = "ONNX Runtime fp32"
    fast = False

    def __init__(self, graph: Path):
        import onnxruntime

        self.session = onnxruntime.InferenceSession(str(graph), providers=["CPUExecutionProvider"])

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.session.run(None, {ONNX_INPUT: images})[0]


class TorchEngine:
    """The PyTorch model, under bf16 autocast in channels_last where `precision` allows it."""

    def __init__(self, model, precision: str):
        import torch

        self.fast = fast_path(precision)
        self.memory_format = torch.channels_last if self.fast else torch.contiguous_format
        self.model = model.eval().to(memory_format=self.memory_format)
        self.description = "PyTorch bf16 autocast + channels_last" if self.fast else "PyTorch fp32"

    def __call__(self, images: np.ndarray) -> np.ndarray:
        import torch

        autocast = torch.autocast("cpu", dtype=torch.bfloat16) if self.fast else contextlib.nullcontext()
        with torch.inference_mode(), autocast:
            batch = torch.from_numpy(images).contiguous(memory_format=self.memory_format)
            return self.model(batch)[0].float().numpy()


class Scorer:
    """A model ready to score: its input size and MOS scale, and how to run it (params `score`).

    The engine: ONNX Runtime where the model folder has an ONNX graph (students) and `engine`
    allows it, measured faster than PyTorch here (reports/benchmarks/onnx_student.md); else
    PyTorch. `from_folder` loads no torch model when ONNX Runtime scores.
    """

    def __init__(self, model, config: dict, settings: ScoreParams, onnx_path: Path | None = None,
                 folder: Path | None = None):
        self.config, self.mos_range, self.settings = config, config["training"]["mos_range"], settings
        self.folder = folder
        self.image_size, self.resize = config["preprocessing"]["image_size"], resize_of(config["preprocessing"])
        self.onnx_path = onnx_path if onnx_path is not None and Path(onnx_path).is_file() else None
        if settings.engine == "onnxruntime" and self.onnx_path is None:
            raise DPIQAError("score.engine is onnxruntime but this model has no ONNX graph (teachers have none)")
        self.engine = "onnxruntime" if self.onnx_path and settings.engine != "torch" else "torch"
        self.model = model
        self.run = OnnxEngine(self.onnx_path) if self.engine == "onnxruntime" else TorchEngine(model, settings.precision)
        self.fast, self.description = self.run.fast, self.run.description

    @classmethod
    def from_folder(cls, folder: Path, settings: ScoreParams) -> Scorer:
        """A saved model folder: read as ONNX alone where that engine is chosen, else as PyTorch."""
        config, graph = read_config(folder), onnx_graph(folder)
        if graph is not None and settings.engine != "torch":
            return cls(None, config, settings, graph, folder)
        from dpiqa.models.export import load_pretrained

        model, config = load_pretrained(folder)
        return cls(model, config, settings, graph, folder)

    def torch_model(self):
        """The PyTorch model (quality maps need its gradients), loaded if ONNX Runtime scores."""
        if self.model is None:
            from dpiqa.models.export import load_pretrained

            self.model, _ = load_pretrained(self.folder)
        return self.model

    def decoded(self, item: str, accept_paths: bool = True) -> Image.Image:
        """The RGB image `score` reads for `item` (a path or base64 data)."""
        name, data = read_source(item, self.settings.max_image_bytes, accept_paths)
        return decode(data, name, self.settings)

    def scores(self, images: np.ndarray) -> np.ndarray:
        """Scores on [0, 1] of a batch of model inputs (N, 3, H, W float32), with this scorer's engine."""
        return self.run(images)

    def _prepare(self, item: str, accept_paths: bool) -> tuple[ScoredImage, np.ndarray | None]:
        result = ScoredImage(item if len(item) < MAX_PATH_LENGTH else BASE64_NAME)
        try:
            return result, model_input(self.decoded(item, accept_paths), self.image_size, self.resize)
        except ImageError as error:
            result.error = str(error)
            return result, None

    def _score_batch(self, prepared: list[tuple[ScoredImage, np.ndarray | None]]) -> None:
        decoded = [(result, tensor) for result, tensor in prepared if tensor is not None]
        if not decoded:
            return
        scores = self.scores(np.stack([tensor for _, tensor in decoded])).tolist()
        for (result, _), score in zip(decoded, scores):
            result.score, result.score_mos = score, to_mos_scale(score, self.mos_range)

    def score(self, items: list[str], progress: bool = False, accept_paths: bool = True) -> list[ScoredImage]:
        size = self.settings.batch_size
        batches = [items[start : start + size] for start in range(0, len(items), size)]
        results: list[ScoredImage] = []
        with ThreadPoolExecutor(self.settings.decode_threads) as pool:

            def submit(batch: list[str]) -> list[Future]:
                return [pool.submit(self._prepare, item, accept_paths) for item in batch]

            pending = submit(batches[0]) if batches else []
            for index in tqdm(range(len(batches)), disable=not progress, unit="batch"):
                prepared = [future.result() for future in pending]
                pending = submit(batches[index + 1]) if index + 1 < len(batches) else []
                self._score_batch(prepared)
                results.extend(result for result, _ in prepared)
        return results
