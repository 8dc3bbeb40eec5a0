"""Trained models as self-contained folders: weights (safetensors) beside the config that built them.

A folder holds `model.safetensors`, `model.json` (kind, profile, the exact U-Net/VAE configs,
the dataset's MOS scale, anything the caller adds) and, for the teacher, the prompt embeddings;
for the student, also `model.onnx` (its score, for ONNX Runtime).
Loading rebuilds the architecture from model.json (no download) and loads the weights strictly.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from safetensors.torch import load_file, save_file
from torch import nn

from dpiqa.config import Profile
from dpiqa.models.checkpoints import load_weights
from dpiqa.models.folder import INFO, ONNX, ONNX_INPUT, PROMPTS, WEIGHTS, read_info
from dpiqa.models.profiles import assemble_teacher, build_student
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


def _portable_config(config) -> dict:
    """A diffusers config without its private bookkeeping (`_use_default_values` is a list made from
    a set: its order changes from process to process, and with it the file's hash)."""
    return {key: value for key, value in config.items() if not key.startswith("_")}


def save_model(model: DPIQATeacher | DPIQAStudent, directory: Path, profile: Profile, **info) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    kind = "teacher" if isinstance(model, DPIQATeacher) else "student"
    record = {"kind": kind, "profile": profile.model_dump(mode="json"), **info}
    if kind == "teacher":
        record["unet_config"] = _portable_config(model.unet.config)
        record["vae_config"] = _portable_config(model.vae.config)
        save_file({"embeddings": model.prompt_embeddings.contiguous()}, directory / PROMPTS)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, directory / WEIGHTS)
    if kind == "student":
        export_onnx(model, directory / ONNX, profile.image_size)
    (directory / INFO).write_text(dumps_json(record, indent=2, default=str))


def load_model(directory: Path) -> tuple[nn.Module, dict]:
    """The model saved in `directory`, in eval mode, and its model.json."""
    directory = Path(directory)
    info = read_info(directory)
    profile = Profile.model_validate(info["profile"])
    if info["kind"] == "teacher":
        vae = AutoencoderKL.from_config(info["vae_config"])
        unet = UNet2DConditionModel.from_config(info["unet_config"])
        embeddings = load_file(directory / PROMPTS)["embeddings"]
        model: nn.Module = assemble_teacher(profile, vae, unet, embeddings)
    else:
        model = build_student(profile, seed=0, imagenet_weights=False)
    load_weights(model, directory / WEIGHTS)
    return model.eval(), info
