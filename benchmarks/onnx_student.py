"""Should the student ship as ONNX (as the authors did)? ONNX Runtime vs PyTorch on this CPU.

Exports the sd15 student (EfficientNet-B7, random weights) with torch.onnx and times ONNX
Runtime (fp32, all graph optimisations) against PyTorch fp32 and PyTorch's fast path (bf16
autocast + channels_last), batch 1 and 8, median of several runs, same run; checks the ONNX
scores match PyTorch's. onnx, onnxscript and onnxruntime are benchmark-only dependencies:
`pip install onnx onnxscript onnxruntime`. Writes reports/benchmarks/onnx_student.{json,md}.

    python benchmarks/onnx_student.py [--runs 3] [--batches 1 8]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from dpiqa.config import load_params
from dpiqa.models.profiles import build_student
from dpiqa.timing import median_seconds

OUT = Path("reports/benchmarks")


class ScoreOnly(torch.nn.Module):
    def __init__(self, student: torch.nn.Module):
        super().__init__()
        self.student = student

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.student(images)[0]


@torch.inference_mode()
def measure(model: torch.nn.Module, session: ort.InferenceSession, batch: int, side: int, runs: int, result: dict) -> None:
    images = torch.rand(batch, 3, side, side)
    reference = model(images).numpy()
    latency = result["seconds_per_image"]
    latency[f"torch_fp32/batch{batch}"] = median_seconds(lambda: model(images), runs) / batch
    fast_model = model.to(memory_format=torch.channels_last)
    fast_images = images.contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        latency[f"torch_fast/batch{batch}"] = median_seconds(lambda: fast_model(fast_images), runs) / batch
    model.to(memory_format=torch.contiguous_format)
    feed = {"images": images.numpy()}
    result[f"max_abs_difference_onnx_vs_torch/batch{batch}"] = float(np.abs(session.run(None, feed)[0] - reference).max())
    latency[f"onnxruntime_fp32/batch{batch}"] = median_seconds(lambda: session.run(None, feed), runs) / batch
    print(batch, {k: v for k, v in latency.items() if k.endswith(f"batch{batch}")}, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    args = parser.parse_args()
    profile = load_params().models.profiles["sd15"]
    model = ScoreOnly(build_student(profile, seed=0, imagenet_weights=False)).eval()
    side = profile.image_size
    result = {"runs": args.runs, "threads": torch.get_num_threads(), "onnxruntime": ort.__version__, "seconds_per_image": {}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "student.onnx"
        example = torch.rand(1, 3, side, side)
        torch.onnx.export(model, (example,), str(path), input_names=["images"], output_names=["score"],
                          dynamic_shapes={"images": {0: torch.export.Dim("batch")}})
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for batch in args.batches:
            measure(model, session, batch, side, args.runs, result)
    latency = result["seconds_per_image"]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "onnx_student.json").write_text(json.dumps(result, indent=2))
    rows = ["| batch | PyTorch fp32 | PyTorch fast path | ONNX Runtime fp32 | ORT / fast path |", "|---|---|---|---|---|"]
    rows += [f"| {b} | {latency[f'torch_fp32/batch{b}']:.3f} | {latency[f'torch_fast/batch{b}']:.3f} | "
             f"{latency[f'onnxruntime_fp32/batch{b}']:.3f} | {latency[f'onnxruntime_fp32/batch{b}'] / latency[f'torch_fast/batch{b}']:.2f} |"
             for b in args.batches]
    (OUT / "onnx_student.md").write_text(
        f"# sd15 student (B7): ONNX Runtime vs PyTorch, s/image on this CPU ({result['threads']} threads, "
        f"median of {args.runs})\n\n" + "\n".join(rows) + "\n\n" +
        "\n".join(f"- {k}: {v:.2e}" for k, v in result.items() if k.startswith("max_abs")) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
