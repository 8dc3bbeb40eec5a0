"""Loading weights safely: safetensors, or torch.load with weights_only=True, never pickle code.

Reads the authors' released checkpoints (plain state dicts, possibly wrapped in `state_dict` or
`model`) and reports missing and unexpected keys by name.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from dpiqa.errors import DPIQAError

WRAPPER_KEYS = ("state_dict", "model")
KEYS_SHOWN = 10


class CheckpointMismatchError(DPIQAError):
    """Weights that do not fit the architecture they are loaded into."""


@dataclass(frozen=True)
class LoadReport:
    missing: list[str]
    unexpected: list[str]

    @property
    def clean(self) -> bool:
        return not self.missing and not self.unexpected

    def describe(self) -> str:
        def listed(keys: list[str]) -> str:
            more = f" ... and {len(keys) - KEYS_SHOWN} more" if len(keys) > KEYS_SHOWN else ""
            return ", ".join(keys[:KEYS_SHOWN]) + more

        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} missing keys (in the model, not the file): {listed(self.missing)}")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected keys (in the file, not the model): {listed(self.unexpected)}")
        return "; ".join(parts) or "all keys matched"


def read_state_dict(path: Path, prefix: str = "") -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file or a weights-only torch file, `prefix` stripped."""
    path = Path(path)
    if path.suffix == ".safetensors":
        state = load_file(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        for wrapper in WRAPPER_KEYS:
            if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
                state = state[wrapper]
    if prefix:
        state = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
    return state


def load_weights(model: nn.Module, path: Path, *, strict: bool = True, prefix: str = "") -> LoadReport:
    """Load `path` into `model`; with strict, any key mismatch raises and names the keys."""
    state = read_state_dict(path, prefix)
    expected = set(model.state_dict())
    report = LoadReport(sorted(expected - set(state)), sorted(set(state) - expected))
    if strict and not report.clean:
        raise CheckpointMismatchError(f"{path} does not fit {type(model).__name__}: {report.describe()}")
    model.load_state_dict(state, strict=False)
    return report


def weights_digest(model: nn.Module) -> str:
    """SHA-256 of a module's parameters and buffers: proves a cache was made by these weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
