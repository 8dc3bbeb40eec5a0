"""The authors' released DP-IQA checkpoints (RomGai/DP-IQA) as this project's models, registered.

Their state dicts use this project's keys (compared line by line with their code), so an import
builds the architecture the profile describes with no pretrained download (every weight comes
from the checkpoint), loads it strictly (missing and unexpected keys named), writes a model
folder that `dpiqa score` and `dpiqa serve` read, and registers it as the challenger with where
the weights came from and their SHA-256.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import mlflow
import torch
from mlflow.tracking import MlflowClient
from safetensors.torch import load_file
from torch import nn

from dpiqa.config import Params
from dpiqa.data.download import sha256sum
from dpiqa.errors import DPIQAError
from dpiqa.models.checkpoints import CheckpointMismatchError, read_state_dict
from dpiqa.models.export import save_pretrained
from dpiqa.models.profiles import assemble_teacher, build_student, random_vae_unet
from dpiqa.registry.pyfunc import log_pyfunc
from dpiqa.tracking.runs import experiment_id
from dpiqa.tracking.store import reachable_tracking_uri

KINDS = ("teacher", "student")
SOURCE = "DP-IQA authors' release (github.com/RomGai/DP-IQA)"


def read_prompt_embeddings(path: Path) -> torch.Tensor:
    """The (K, d) prompt embeddings the teacher was trained with: one tensor in a .safetensors or
    weights-only torch file."""
    tensors = load_file(path) if Path(path).suffix == ".safetensors" else torch.load(path, map_location="cpu",
                                                                                       weights_only=True)
    if isinstance(tensors, dict):
        if len(tensors) != 1:
            raise DPIQAError(f"{path}: expected one tensor of prompt embeddings, found {sorted(tensors)}")
        [tensors] = tensors.values()
    if not isinstance(tensors, torch.Tensor) or tensors.ndim != 2:
        raise DPIQAError(f"{path}: prompt embeddings must be one (prompts, dim) tensor")
    return tensors.float()


def imported_model(kind: str, checkpoint: Path, params: Params, prompts: Path | None = None) -> nn.Module:
    """The profile's architecture holding exactly the checkpoint's weights."""
    for path, what in ((checkpoint, "checkpoint"), (prompts, "prompt embeddings file")):
        if path is not None and not Path(path).is_file():
            raise DPIQAError(f"{what} {path} does not exist")
    profile = params.profile
    if kind == "student":
        model = build_student(profile, params.base.seed, imagenet_weights=False)  # every weight is replaced
    elif kind == "teacher":
        if prompts is None:
            raise DPIQAError("importing a teacher needs its prompt embeddings: --prompts FILE (the (K, d) tensor "
                             "it was trained with)")
        embeddings = read_prompt_embeddings(prompts)
        vae, unet = random_vae_unet(profile.teacher)
        if embeddings.shape[1] != unet.config.cross_attention_dim:
            raise DPIQAError(f"{prompts}: embeddings of width {embeddings.shape[1]}, but the {params.base.profile} "
                             f"U-Net attends to width {unet.config.cross_attention_dim}")
        model = assemble_teacher(profile, vae, unet, embeddings)
    else:
        raise DPIQAError(f"unknown model kind {kind!r}; one of {', '.join(KINDS)}")
    try:
        state = read_state_dict(checkpoint)
    except pickle.UnpicklingError as error:
        raise DPIQAError(f"{checkpoint} is not a plain weights file: torch.load(weights_only=True) refused it "
                         f"({error})") from error
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise CheckpointMismatchError(
            f"{checkpoint} is not a {params.base.profile} DP-IQA {kind}: {len(missing)} missing keys {missing[:10]}, "
            f"{len(unexpected)} unexpected keys {unexpected[:10]}")
    model.load_state_dict(state, strict=True)
    return model.eval()


def import_checkpoint(kind: str, checkpoint: Path, params: Params, out: Path, *, dataset: str, mos_range: list[float],
                      prompts: Path | None = None, register: bool = True) -> dict:
    """Import, save to `out`, and (with `register`) register as the challenger. Returns what was done."""
    checkpoint = Path(checkpoint)
    model = imported_model(kind, checkpoint, params, prompts)
    digest = sha256sum(checkpoint)
    training = {"stage": "import", "source": SOURCE, "checkpoint": checkpoint.name, "sha256": digest,
                "profile": params.base.profile, "dataset": dataset, "mos_range": list(mos_range)}
    save_pretrained(model, out, image_size=params.profile.image_size, resize=params.profile.resize, training=training)
    result = {"kind": kind, "folder": str(out), "sha256": digest}
    if register:
        result.update(register_import(kind, out, params, checkpoint, digest))
    return result


def register_import(kind: str, folder: Path, params: Params, checkpoint: Path, digest: str) -> dict:
    settings = params.register_
    name = settings.teacher_name if kind == "teacher" else settings.student_name
    mlflow.set_tracking_uri(reachable_tracking_uri())
    tags = {"dpiqa.kind": "import", "source": SOURCE, "source.checkpoint": checkpoint.name, "source.sha256": digest}
    with mlflow.start_run(experiment_id=experiment_id(params.tracking.experiment), run_name=f"import {kind}", tags=tags):
        info = log_pyfunc(Path(folder), name, kind, params.score)
    client = MlflowClient()
    version = str(info.registered_model_version)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    client.set_registered_model_alias(name, settings.challenger_alias, version)
    return {"name": name, "version": version, "alias": settings.challenger_alias}
