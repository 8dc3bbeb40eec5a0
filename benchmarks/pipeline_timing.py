"""`dvc repro` of the embedded default from clean: wall time per stage, the total, and a no-op
`dvc repro` after it. Deletes every pipeline output first (as `make clean` does) and the DVC
cache (.dvc/cache, so nothing is restored instead of run): hence the flag it insists on.
Writes reports/benchmarks/pipeline_timing.{json,md}.

    python benchmarks/pipeline_timing.py --delete-outputs-and-dvc-cache
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


def timed_repro() -> tuple[float, dict[str, float], str]:
    bin_dir = Path(sys.executable).parent  # the stages run `python`: this environment's
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
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
    parser.parse_args()
    clean()
    total, stages, _ = timed_repro()
    noop, ran, output = timed_repro()
    result = {"from_clean_s": total, "stages_s": stages, "noop_s": noop, "noop_ran_stages": list(ran),
              "noop_up_to_date": "Data and pipelines are up to date" in output}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "pipeline_timing.json").write_text(json.dumps(result, indent=2))
    lines = ["# `dvc repro` of the embedded default (tiny profile), this 2-core CPU", "",
             "| stage | wall s |", "|---|---|", *(f"| {name} | {seconds:.1f} |" for name, seconds in stages.items()),
             f"| **total from clean** | **{total:.1f}** |", "",
             f"- no-op `dvc repro` afterwards: {noop:.1f} s (up to date: {result['noop_up_to_date']})"]
    (OUT / "pipeline_timing.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
