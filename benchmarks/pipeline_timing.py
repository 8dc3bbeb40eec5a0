"""`dvc repro` of the embedded default from clean: wall time per stage, the total, and a no-op
`dvc repro` after it. Deletes every pipeline output first (as `make clean` does) and the DVC
cache (.dvc/cache, so nothing is restored instead of run): hence the flag it insists on.
Writes reports/benchmarks/pipeline_timing.{json,md}; with `--max-isa avx2`, torch and oneDNN use
no instruction beyond AVX2 (ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA): the cost on a CPU without
AVX-512, measured on one with it (pipeline_timing_avx2.{json,md}).

    python benchmarks/pipeline_timing.py --delete-outputs-and-dvc-cache [--max-isa avx2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from dpiqa.timing import cpu_name
from dpiqa.tracking.runs import git_commit

OUT = Path("reports/benchmarks")
OUTPUTS = ["data/datasets", "data/manifests", "data/splits", "models/teacher", "models/student", "models/checkpoints",
           "models/latents.safetensors", "models/teacher_targets.safetensors", "reports/validation", "reports/train",
           "reports/metrics.json", "reports/cost.json", "reports/predictions", "reports/figures",
           "reports/registry.json", "reports/report.md", "reports/report.html", "mlflow.db", "mlartifacts",
           ".dvc/cache"]
STAGE_LINE = re.compile(r"Running stage '([^']+)'")


def clean() -> None:
    for name in OUTPUTS:
        path = Path(name)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


# What each library reads to cap its kernels at an instruction set
ISA_CAPS = {"avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}}


def timed_repro(isa_cap: dict[str, str]) -> tuple[float, dict[str, float], str]:
    bin_dir = Path(sys.executable).parent  # the stages run `python`: this environment's
    env = {**os.environ, **isa_cap, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    start = time.monotonic()
    process = subprocess.Popen([str(bin_dir / "dvc"), "repro"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env)
    stages, current, began, output = {}, None, start, []
    for line in process.stdout:
        output.append(line)
        found = STAGE_LINE.search(line)
        if found:
            now = time.monotonic()
            if current:
                stages[current] = now - began
            current, began = found.group(1), now
    if process.wait() != 0:
        raise SystemExit("".join(output[-50:]))
    end = time.monotonic()
    if current:
        stages[current] = end - began
    return end - start, stages, "".join(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delete-outputs-and-dvc-cache", action="store_true", required=True)
    parser.add_argument("--max-isa", choices=sorted(ISA_CAPS), help="cap torch's and oneDNN's instruction set")
    args = parser.parse_args()
    isa_cap = ISA_CAPS.get(args.max_isa, {})
    clean()
    total, stages, _ = timed_repro(isa_cap)
    noop, ran, output = timed_repro(isa_cap)
    result = {"cpu": cpu_name(), "isa_cap": isa_cap, "commit": git_commit(), "from_clean_s": total, "stages_s": stages,
              "noop_s": noop, "noop_ran_stages": list(ran), "noop_up_to_date": "Data and pipelines are up to date" in output}
    stem = OUT / ("pipeline_timing" + (f"_{args.max_isa}" if args.max_isa else ""))
    OUT.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(result, indent=2))
    cap = f", capped at {args.max_isa.upper()} ({', '.join(f'{k}={v}' for k, v in isa_cap.items())})" if isa_cap else ""
    lines = [f"# `dvc repro` of the embedded default (tiny profile), 2-core {result['cpu']}{cap}", "",
             "| stage | wall s |", "|---|---|", *(f"| {name} | {seconds:.1f} |" for name, seconds in stages.items()),
             f"| **total from clean** | **{total:.1f}** |", "",
             f"- no-op `dvc repro` afterwards: {noop:.1f} s (up to date: {result['noop_up_to_date']})"]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
