import re

import numpy as np
import pandas as pd
import pytest

from dpiqa.evaluate.figures import scatter, training_curves
from dpiqa.evaluate.report import build_sections, provenance, to_html, to_markdown


@pytest.fixture
def report_inputs(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"image": [f"{i}.png" for i in range(30)], "mos": rng.uniform(0, 1, 30),
                          "distortion": ["blur", "noise", "jpeg"] * 10})
    frame["teacher"], frame["student"] = frame["mos"] + rng.normal(0, .1, 30), frame["mos"] + rng.normal(0, .2, 30)
    stats = {"srcc": .9, "krcc": .7, "plcc": .88, "plcc_logistic": .9, "rmse": .1, "images": 30}
    stats.update({f"{k}_ci": [.8, .95] for k in ("srcc", "krcc", "plcc", "plcc_logistic", "rmse")})
    summary = {"teacher": {"embedded": stats}, "student": {"embedded": stats}, "agreement": {"embedded": .93},
               "labels_only": {"embedded": .876}}
    cost = {"teacher": {"parameters": 2_000_000, "latency_s": .02, "latency_scoring_s": .01,
                        "scoring_engine": "PyTorch bf16 autocast + channels_last"},
            "student": {"parameters": 1_000_000, "latency_s": .01, "latency_scoring_s": .004,
                        "scoring_engine": "ONNX Runtime fp32"},
            "ratios": {"parameters_teacher_over_student": 2.0, "latency_teacher_over_student": 2.0,
                       "latency_scoring_teacher_over_student": 2.5}}
    figures = tmp_path / "figures"
    scatter(frame, "embedded", ("teacher", "student"), figures / "scatter_embedded.png")
    curve = pd.DataFrame({"epoch": [0, 1], "train_loss": [1.0, .5], "val_srcc": [.3, .6]})
    training_curves({"teacher": curve, "student": curve}, figures / "training_curves.png")
    for name in ("teacher", "student"):  # stand-ins: what the report does with the evaluate stage's maps
        (figures / f"maps_{name}.png").write_bytes((figures / "training_curves.png").read_bytes())
    params = tmp_path / "params.yaml"
    params.write_text("base:\n  seed: 1\n")
    rows, text = provenance(params, {("train_teacher", "models/teacher"): "abc123.dir"}, {"student": {"name": "dpiqa-student", "version": "3", "uri": "models:/dpiqa-student@challenger"}},
                            "deadbeef", {"train_teacher": "run42"})
    return build_sections(summary, cost, {"embedded": frame}, figures, rows, text, synthetic=True, dataset="embedded")


def test_html_is_self_contained(report_inputs):
    page = to_html(report_inputs)
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<script" not in page and "http" not in page.lower().replace("http-equiv", "")


def test_report_carries_results_breakdown_and_provenance(report_inputs, tmp_path):
    markdown = to_markdown(report_inputs, tmp_path)
    for expected in ("0.900 [0.800, 0.950]", "Per-distortion SRCC", "deadbeef", "abc123.dir", "run42",
                     "models:/dpiqa-student@challenger", "package torch", "synthetic", "seed: 1",
                     "![scatter_embedded](figures/scatter_embedded.png)", "2.50x", "## Quality maps",
                     "![maps_student](figures/maps_student.png)", "![maps_teacher](figures/maps_teacher.png)",
                     "Labels alone reach test SRCC 0.876"):
        assert expected in markdown, expected
    assert "Synthetic labels" in to_html(report_inputs)


def test_an_undefined_statistic_reads_undefined():
    """Constant predictions have no correlation: metrics.json holds null, the report says so."""
    from dpiqa.evaluate.report import results_table

    values = {"srcc": None, "srcc_ci": [None, None], "images": 4}
    for name in ("krcc", "plcc", "plcc_logistic", "rmse"):
        values.update({name: 0.25, f"{name}_ci": [0.2, 0.3]})
    table = results_table({"teacher": {"embedded": values}, "student": {"embedded": values}})
    assert table.loc[0, "srcc"] == "undefined [undefined, undefined]" and table.loc[0, "rmse"] == "0.250 [0.200, 0.300]"


def test_split_seeds_get_their_section_only_when_there_are_results(report_inputs, tmp_path):
    from dpiqa.evaluate.report import build_sections

    assert "## Split seeds" not in to_markdown(report_inputs, tmp_path)
    seed = {"seed": 0, "models": "the pipeline's (train.split_seed)", "agreement": 0.5,
            "teacher": {"srcc": 0.7, "plcc": 0.72}, "student": {"srcc": 0.6, "plcc": 0.61}}
    rows = pd.DataFrame([{"what": "git commit", "value": "x"}])
    model_cost = {"parameters": 1, "latency_s": 1.0, "latency_scoring_s": 1.0, "scoring_engine": "PyTorch fp32"}
    cost = {"teacher": model_cost, "student": model_cost, "ratios": dict.fromkeys(
        ("parameters_teacher_over_student", "latency_teacher_over_student", "latency_scoring_teacher_over_student"), 1.0)}
    other = {**seed, "seed": 1, "teacher": {"srcc": 0.5, "plcc": 0.52}}

    def seeds_section(seeds):
        sections = build_sections({"teacher": {}, "student": {}, "agreement": {}}, cost, {}, tmp_path, rows, "",
                                  synthetic=False, dataset="clive", seeds=seeds)
        return next(section for section in sections if section.title == "Split seeds").table.set_index("split seed")

    assert "median" not in seeds_section([seed]).index  # one seed: its row says it all
    table = seeds_section([seed, other])
    assert table.loc["median", "teacher SRCC / PLCC"] == "0.600 / 0.620" and table.loc["min", "models"] == "2 seeds"
    assert table.loc["DP-IQA paper", "teacher SRCC / PLCC"] == "0.893 / 0.913"


def test_the_prior_ablation_is_quoted_per_seed_with_the_median_and_only_when_measured():
    from dpiqa.evaluate.report import prior_ablation_section

    def run(seed, arm, srcc):
        return {"seed": seed, "arm": arm, "cpu": "AMD EPYC", "teacher": {"srcc": srcc, "srcc_ci": [srcc - .05, srcc + .05]}}

    result = {"dataset": "agiqa3k", "runs": [run(0, "prior", .30), run(0, "random", .20), run(1, "prior", .40)],
              "median": {"prior": {"teacher": .35}, "random": {"teacher": .20}}, "teacher_gain": {"0": .10}}
    section = prior_ablation_section([result])
    table = section.table.set_index("split seed")
    assert table.loc[0, "teacher, prior"] == "0.300 [0.250, 0.350]" and table.loc[0, "prior minus random"] == "+0.100"
    assert table.loc[1, "teacher, random init"] == "" and table.loc[1, "prior minus random"] == ""  # one arm only
    assert table.loc["median", "teacher, prior"] == "0.350" and "AMD EPYC" in section.text
    assert "commit unrecorded" in section.text
    result["runs"][0]["commit"], result["note"] = "abc1234", "measured with an older score head."
    section = prior_ablation_section([result])
    assert "commit abc1234, unrecorded" in section.text and "agiqa3k: measured with an older score head." in section.text
    assert prior_ablation_section([]) is None
