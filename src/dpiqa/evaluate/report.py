"""The reviewer's report: results, figures and the provenance to reproduce them.

Written twice from the same content: `report.md` (figures linked) and a self-contained
`report.html` (figures embedded as data URIs, inline CSS, no scripts, nothing fetched).
"""

from __future__ import annotations

import base64
import html
import json
import os
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pandas as pd

from dpiqa.evaluate.metrics import STATISTICS
from dpiqa.evaluate.summaries import MODELS, aggregate, per_distortion

PACKAGES = ("dpiqa", "torch", "torchvision", "diffusers", "transformers", "lightning", "mlflow", "dvc",
            "great-expectations", "pandas", "pillow", "scipy", "torchmetrics")
CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #ddd}
.warning{background:#fff4d6;border-left:4px solid #e0a800;padding:8px 12px}code,pre{background:#f6f6f6}
pre{padding:8px;overflow-x:auto;font-size:12px}"""


@dataclass
class Section:
    title: str
    text: str = ""
    table: pd.DataFrame | None = None
    figures: list[Path] = field(default_factory=list)
    code: str | None = None


def _number(value: float | None, spec: str = ".3f") -> str:
    """A statistic as text; null in metrics.json (constant predictions) reads "undefined"."""
    return "undefined" if value is None else format(value, spec)


def results_table(summary: dict) -> pd.DataFrame:
    rows = []
    for model in MODELS:
        for dataset, values in summary[model].items():
            if not isinstance(values, dict):
                continue
            row = {"model": model, "test set": dataset, "images": values["images"]}
            for name in STATISTICS:
                low, high = values[f"{name}_ci"]
                row[name] = f"{_number(values[name])} [{_number(low)}, {_number(high)}]"
            rows.append(row)
    return pd.DataFrame(rows)


def cost_table(cost: dict) -> pd.DataFrame:
    fast = "as scored (ms/image)"
    rows = [{"model": m, "parameters (M)": f"{cost[m]['parameters'] / 1e6:.2f}",
             "PyTorch fp32 (ms/image)": f"{cost[m]['latency_s'] * 1e3:.1f}",
             fast: f"{cost[m]['latency_scoring_s'] * 1e3:.1f}", "scoring engine": cost[m]["scoring_engine"]}
            for m in MODELS]
    ratios = cost["ratios"]
    rows.append({"model": "teacher / student", "parameters (M)": f"{ratios['parameters_teacher_over_student']:.2f}x",
                 "PyTorch fp32 (ms/image)": f"{ratios['latency_teacher_over_student']:.2f}x",
                 fast: f"{ratios['latency_scoring_teacher_over_student']:.2f}x", "scoring engine": ""})
    return pd.DataFrame(rows)


def provenance(
    params_file: Path, hashes: dict[tuple[str, str], str], registry: dict, commit: str, runs: dict[str, str]
) -> tuple[pd.DataFrame, str]:
    """`hashes`: (stage, output) -> DVC md5 from dvc.lock; `runs`: stage -> MLflow run id."""
    rows = [{"what": "git commit", "value": commit}]
    rows += [{"what": f"{stage}: {path}", "value": digest} for (stage, path), digest in sorted(hashes.items())]
    for entry in registry.values():
        rows.append({"what": f"registry: {entry['name']}", "value": f"version {entry['version']} ({entry['uri']})"})
    rows += [{"what": f"MLflow run: {stage}", "value": run_id} for stage, run_id in runs.items()]
    for package in PACKAGES:
        try:
            rows.append({"what": f"package {package}", "value": metadata.version(package)})
        except metadata.PackageNotFoundError:
            continue
    rows.append({"what": "machine", "value": f"{platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs"})
    rows.append({"what": "python", "value": platform.python_version()})
    return pd.DataFrame(rows), params_file.read_text()


# The authors' teacher, test SRCC / PLCC (median over 10 random 80/20 splits, as quoted by later papers).
PAPER_TEACHER = {"clive": (0.893, 0.913), "koniq10k": (0.942, 0.951), "livefb": (0.579, 0.683), "spaq": (0.923, 0.926)}


def seeds_table(results: list[dict], dataset: str) -> pd.DataFrame:
    """Test SRCC / PLCC per split seed, their median and range, and the paper's teacher beside them."""
    rows = [{"split seed": str(r["seed"]), "models": r["models"],
             **{f"{m} SRCC / PLCC": f"{_number(r[m]['srcc'])} / {_number(r[m]['plcc'])}" for m in MODELS},
             "agreement": _number(r["agreement"])} for r in results]
    summary = aggregate(results)
    for key in ("median", "min", "max") if len(results) > 1 else ():
        rows.append({"split seed": key, "models": f"{len(results)} seeds",
                     **{f"{m} SRCC / PLCC": f"{_number(summary[f'{m}_srcc'][key])} / {_number(summary[f'{m}_plcc'][key])}"
                        for m in MODELS}, "agreement": _number(summary["agreement"][key])})
    if dataset in PAPER_TEACHER:
        srcc, plcc = PAPER_TEACHER[dataset]
        rows.append({"split seed": "DP-IQA paper", "models": "median of 10 splits", "teacher SRCC / PLCC": f"{srcc} / {plcc}",
                     "student SRCC / PLCC": "", "agreement": ""})
    return pd.DataFrame(rows)


def prior_section(summary: dict, figures: Path) -> Section:
    """What the teacher's diffusion prior learnt, and images drawn from it."""
    if not summary.get("trained"):
        return Section("Diffusion prior", "No prior was trained: the teacher starts from pretrained weights or "
                       "random initialisation (the profile's `teacher.prior`).")
    rows = [("images learnt from (labels never read)", summary["images"]), ("held out", summary["held_out"]),
            ("VAE held-out reconstruction PSNR (dB)", f"{summary['vae_val_psnr_db']:.2f}"),
            ("U-Net held-out denoising loss (noise MSE)", f"{summary['unet_val_loss']:.4f}"),
            ("latent scaling factor (1 / latent std)", f"{summary['scaling_factor']:.4f}"),
            ("U-Net conditioning", summary["conditioning"])]
    return Section("Diffusion prior", "The teacher's VAE and U-Net were pretrained on unlabelled images before it "
                   "learnt quality (stage pretrain_prior): the VAE as a KL-regularised autoencoder, the U-Net as a "
                   "latent diffusion model. Below, the held-out curves and images sampled from the prior with DDIM "
                   "from fixed seeds (pretrain_prior.samples).",
                   table=pd.DataFrame(rows, columns=["what", "value"]),
                   figures=[figures / "curves.png", figures / "samples.png"])


def prior_ablation_section(results: list[dict]) -> Section | None:
    """The benchmark's ablation (benchmarks/prior_ablation.py, run by hand) as it was committed: the
    teacher from the prior against the same teacher from random weights, per dataset and split seed."""
    rows = []
    for result in results:
        runs = {(run["seed"], run["arm"]): run["teacher"] for run in result["runs"]}
        for seed in sorted({seed for seed, _ in runs}):
            prior, random = runs.get((seed, "prior")), runs.get((seed, "random"))
            gain = result["teacher_gain"].get(str(seed))
            rows.append({"dataset": result["dataset"], "split seed": seed, "teacher, prior": _with_interval(prior),
                         "teacher, random init": _with_interval(random),
                         "prior minus random": "" if gain is None else f"{gain:+.3f}"})
        medians = {arm: result["median"].get(arm, {}).get("teacher") for arm in ("prior", "random")}
        rows.append({"dataset": result["dataset"], "split seed": "median",
                     **{f"teacher, {label}": "" if medians[arm] is None else _number(medians[arm])
                        for arm, label in (("prior", "prior"), ("random", "random init"))},
                     "prior minus random": ""})
    if not rows:
        return None
    runs = [run for result in results for run in result["runs"]]
    cpus = ", ".join(sorted({run["cpu"] for run in runs}))
    commits = ", ".join(sorted({run.get("commit", "unrecorded") for run in runs}))
    notes = "".join(f" {result['dataset']}: {result['note']}" for result in results if result.get("note"))
    return Section("What the prior buys", "Teacher test SRCC [95% bootstrap interval] started from the pretrained "
                   "prior and from random weights, same split, recipe and student, per split seed: measured by hand with "
                   f"`python benchmarks/prior_ablation.py` ({cpus}; code at commit {commits}), not by this run; the files "
                   f"under `report.benchmarks`.{notes}", table=pd.DataFrame(rows))


def _with_interval(metrics: dict | None) -> str:
    if metrics is None:
        return ""
    low, high = metrics["srcc_ci"]
    return f"{_number(metrics['srcc'])} [{_number(low)}, {_number(high)}]"


def build_sections(summary: dict, cost: dict, predictions: dict[str, pd.DataFrame], figures: Path, provenance_rows: pd.DataFrame,
                   params_text: str, synthetic: bool, dataset: str, seeds: list[dict] = (),
                   prior: list[Section] = ()) -> list[Section]:
    sections = [Section("Results on the test sets",
                        "Each statistic with its paired percentile-bootstrap confidence interval (evaluate.confidence). PLCC is given raw and after the "
                        "4-parameter logistic fit; RMSE is on the [0, 1] scale. The training dataset is scored on "
                        "its test split (never used for model selection); other datasets whole.",
                        table=results_table(summary))]
    agreement = pd.DataFrame([{"test set": k, "SRCC(teacher, student)": _number(v)} for k, v in summary["agreement"].items()])
    sections.append(Section("Teacher vs student", "Size, and cost on this machine's CPU (batch 1, median "
                            "of evaluate.latency_runs), in PyTorch fp32 and as `dpiqa score` runs them (params `score`).", table=cost_table(cost)))
    sections.append(Section("Teacher-student agreement", "SRCC between the two models' predictions, and "
                            "each model's predictions against MOS.", table=agreement,
                            figures=sorted(figures.glob("scatter_*.png"))))
    sections.extend(prior)
    sections.append(Section("Training curves", "Train loss and validation SRCC per epoch; the best-val-SRCC "
                            "epoch is the model kept.", figures=[figures / "training_curves.png"]))
    maps = sorted(figures.glob("maps_*.png"))
    if maps:
        sections.append(Section("Quality maps", "Where each model's score comes from, on the test images it scores "
                                "highest and lowest: each location's first-order contribution to the score (gradient x "
                                "activation of the 8-channel quality map, summed over channels) minus the image's mean: red pulls "
                                "the score down more than the average location, blue less (params `heatmaps`). `dpiqa score --heatmaps DIR` draws the same for any image.",
                                figures=maps))
    if seeds:
        sections.append(Section("Split seeds", f"Both models trained and tested on each split seed in `split.seeds` "
                                f"({dataset}'s test split of that seed): one split's test SRCC says as much about the images it "
                                "put in test as about the models, so papers give the median over 10 seeds.",
                                table=seeds_table(list(seeds), dataset)))
    for name, frame in predictions.items():
        if frame["distortion"].notna().any():
            baseline = summary.get("labels_only", {}).get(name)
            text = "" if baseline is None else (
                f"Labels alone reach test SRCC {_number(baseline)}: each image scored the mean training label of "
                "its distortion type and level, never looking at it. A model below that has not learnt to tell "
                "the distortions and their levels apart.")
            sections.append(Section(f"Per-distortion SRCC ({name})", text, table=per_distortion(frame).round(3)))
    sections.append(Section("Provenance", f"Everything needed to reproduce this report: `git checkout` the commit, "
                            f"`dvc repro` with these params. Trained on `{dataset}`.", table=provenance_rows,
                            code=params_text))
    if synthetic:
        sections.insert(0, Section("Synthetic labels", "The training data is synthetic: its MOS are full-reference "
                                   "pseudo-labels, not human opinion. These numbers exercise the pipeline; they say "
                                   "nothing about real-world quality prediction."))
    return sections


def to_markdown(sections: list[Section], root: Path) -> str:
    parts = ["# DP-IQA evaluation report", ""]
    for section in sections:
        parts += [f"## {section.title}", ""]
        if section.title == "Synthetic labels":
            parts += [f"> **Warning.** {section.text}", ""]
        elif section.text:
            parts += [section.text, ""]
        if section.table is not None and not section.table.empty:
            parts += [section.table.to_markdown(index=False), ""]
        parts += [f"![{figure.stem}]({os.path.relpath(figure, root)})" for figure in section.figures]
        if section.code:
            parts += ["<details><summary>params.yaml</summary>", "", "```yaml", section.code.rstrip(), "```", "", "</details>", ""]
        parts.append("")
    return "\n".join(parts)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def to_html(sections: list[Section]) -> str:
    body = ["<h1>DP-IQA evaluation report</h1>"]
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        if section.text:
            css = ' class="warning"' if section.title == "Synthetic labels" else ""
            body.append(f"<p{css}>{html.escape(section.text)}</p>")
        if section.table is not None and not section.table.empty:
            body.append(section.table.to_html(index=False, border=0, escape=True))
        body += [f'<p><img alt="{html.escape(f.stem)}" src="{_data_uri(f)}"></p>' for f in section.figures if f.exists()]
        if section.code:
            body.append(f"<details><summary>params.yaml</summary><pre>{html.escape(section.code)}</pre></details>")
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>DP-IQA report</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>")


def write_report(sections: list[Section], markdown_path: Path, html_path: Path) -> None:
    markdown_path.parent.mkdir(parents=True, exist_ok=True)
    markdown_path.write_text(to_markdown(sections, markdown_path.parent))
    html_path.write_text(to_html(sections))


def load_predictions(folder: Path, datasets: list[str]) -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(folder / f"{name}.csv") for name in datasets}


def read_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())
