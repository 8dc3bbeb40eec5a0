"""Trained models as self-contained folders (dpiqa.models.folder): weights beside the config that
rebuilds them. Loading builds the architecture from config.json alone (no profile, no download)
and loads the weights strictly.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from dpiqa.data.images import preprocessing
from dpiqa.errors import DPIQAError
from dpiqa.models.checkpoints import load_weights
from dpiqa.models.folder import CONFIG, ONNX, ONNX_INPUT, PROMPTS, WEIGHTS, read_config
from dpiqa.models.student import DPIQAStudent
from dpiqa.models.teacher import DPIQATeacher
from dpiqa.strict_json import dumps_json


class _ScoreOnly(nn.Module):
    def __init__(self, student: DPIQAStudent):
        super().__init__()
        self.student = student

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.student(images)[0]


def export_onnx(student: DPIQAStudent, path: Path, image_size: int) -> None:
    """The student's score as an ONNX graph with a dynamic batch: ONNX Runtime scores with it
    faster than PyTorch on CPUs (reports/benchmarks/onnx_student.md)."""
    example = torch.rand(1, 3, image_size, image_size)
    torch.onnx.export(_ScoreOnly(student).eval(), (example,), str(path), input_names=[ONNX_INPUT],
                      output_names=["score"], dynamic_shapes={ONNX_INPUT: {0: torch.export.Dim("batch")}},
                      external_data=False, verbose=False)  # one file: B7 (324 MB) is far below protobuf's 2 GB


def save_pretrained(model: DPIQATeacher | DPIQAStudent, directory: Path, *, image_size: int, training: dict,
                    resize: str = "bicubic") -> None:
    """The model as a folder (see dpiqa.models.folder): weights, and the config that rebuilds it,
    with how it reads images and what it was trained on (`training`: dataset, mos_range, ...)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = {"_class_name": type(model).__name__, "architecture": model.config,
              "preprocessing": preprocessing(image_size, resize), "training": training}
    if isinstance(model, DPIQATeacher):
        save_file({"embeddings": model.prompt_embeddings.contiguous()}, directory / PROMPTS)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, directory / WEIGHTS)
    if isinstance(model, DPIQAStudent):
        export_onnx(model, directory / ONNX, image_size)
    (directory / CONFIG).write_text(dumps_json(config, indent=2))


def load_pretrained(directory: Path) -> tuple[nn.Module, dict]:
    """The model saved in `directory`, in eval mode, and its config.json."""
    directory = Path(directory)
    config = read_config(directory)
    if config["_class_name"] == "DPIQATeacher":
        embeddings = load_file(directory / PROMPTS)["embeddings"]
        model: nn.Module = DPIQATeacher.from_config(config["architecture"], embeddings)
    elif config["_class_name"] == "DPIQAStudent":
        model = DPIQAStudent.from_config(config["architecture"])
    else:
        raise DPIQAError(f"{directory / CONFIG}: {config['_class_name']!r} is not a dpiqa model")
    load_weights(model, directory / WEIGHTS)
    return model.eval(), config
