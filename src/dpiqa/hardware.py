"""What this machine computes fast: precision is chosen by the hardware a run lands on, not by the
machine a setting was measured on."""

from __future__ import annotations

from typing import Literal

# Lightning precision strings `auto` resolves to
FP32, BF16_MIXED, FP16_MIXED = "32-true", "bf16-mixed", "16-mixed"
# What params may name: `auto` or one of Lightning's precision strings
Precision = Literal["auto", "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true"]


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: where bf16 autocast beats fp32 (benchmarks/model_latency.py); elsewhere
    bf16 is emulated and slower than fp32."""
    import torch

    probe = getattr(torch.cpu, "_is_avx512_bf16_supported", None)  # torch has no public probe
    return bool(probe and probe())


def gpu_has_bf16() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def resolve_precision(setting: str, kind: Literal["cpu", "gpu"]) -> str:
    """A Lightning precision; `auto`: bf16 autocast where the hardware has it natively, else fp32
    on a CPU and fp16 autocast on a GPU."""
    if setting != "auto":
        return setting
    if kind == "cpu":
        return BF16_MIXED if cpu_has_native_bf16() else FP32
    return BF16_MIXED if gpu_has_bf16() else FP16_MIXED
