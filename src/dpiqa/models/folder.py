"""What a saved model folder holds, readable without torch (ONNX scoring needs none).

diffusers' pattern: `config.json` says everything needed to rebuild and to use the model,
  _class_name    DPIQATeacher or DPIQAStudent
  architecture   the constructor settings (`from_config` rebuilds the model from them alone)
  preprocessing  how an image becomes its input (dpiqa.data.images.model_input)
  training       what it learnt from: dataset and MOS scale, profile, seed, recipe, result
beside `model.safetensors`, the teacher's prompt embeddings and the student's `model.onnx`.
"""

from __future__ import annotations

import json
from pathlib import Path

WEIGHTS, CONFIG, PROMPTS, ONNX = "model.safetensors", "config.json", "prompt_embeddings.safetensors", "model.onnx"
ONNX_INPUT = "images"


def read_config(directory: Path) -> dict:
    return json.loads((Path(directory) / CONFIG).read_text())


def onnx_graph(directory: Path) -> Path | None:
    path = Path(directory) / ONNX
    return path if path.is_file() else None
