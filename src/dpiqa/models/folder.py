"""What a saved model folder holds, readable without torch (ONNX scoring needs none)."""

from __future__ import annotations

import json
from pathlib import Path

WEIGHTS, INFO, PROMPTS, ONNX = "model.safetensors", "model.json", "prompt_embeddings.safetensors", "model.onnx"
ONNX_INPUT = "images"


def read_info(directory: Path) -> dict:
    return json.loads((Path(directory) / INFO).read_text())


def onnx_graph(directory: Path) -> Path | None:
    path = Path(directory) / ONNX
    return path if path.is_file() else None
