import json

import pytest

from dpiqa.evaluate.protocol import seed_folder, seed_result, seeded_params
from dpiqa.evaluate.report import seeds_table
from dpiqa.evaluate.summaries import aggregate

OUTPUTS = {"pretrain_prior": ("out", "metrics", "figures"), "encode_latents": ("out",), "train_teacher": ("out", "metrics", "curve"),
           "teacher_targets": ("out",), "distill_student": ("out", "metrics", "curve")}


def _result(seed: int, teacher: float, student: float, agreement: float = 0.5) -> dict:
    return {"seed": seed, "models": "trained for this seed", "agreement": agreement,
            "teacher": {"srcc": teacher, "plcc": teacher + 0.01}, "student": {"srcc": student, "plcc": student + 0.01}}


def test_a_seed_trains_on_its_split_with_every_output_in_its_own_folder(make_params):
    params = make_params({"evaluate": {"datasets": ["embedded"]}, "train": {"devices": 2, "strategy": "ddp"}})
    seeded = seeded_params(params, 3)
    assert (seeded.train.devices, seeded.train.num_nodes, seeded.train.strategy) == (1, 1, "auto")
    assert seeded.train.split_seed == 3 and seeded.split_file() == params.split.split_path("embedded", 3)
    assert seeded.train.checkpoints == seed_folder(params, 3) != params.train.checkpoints
    for section, fields in OUTPUTS.items():
        for name in fields:
            moved, original = getattr(getattr(seeded, section), name), getattr(getattr(params, section), name)
            assert moved != original and moved.is_relative_to(seed_folder(params, 3)), (section, name)
    assert seeded.evaluate.datasets == [params.base.dataset]
    assert seeded.evaluate.metrics == params.evaluate.metrics  # nothing of the pipeline's is written by a seed
    assert seeded.train_teacher.recipes == params.train_teacher.recipes and seeded.base == params.base


def test_the_pipelines_own_seed_is_read_back_not_retrained(make_params, tmp_path):
    params = make_params({"evaluate": {"metrics": str(tmp_path / "metrics.json")}})  # never the checkout's own
    stats = {"srcc": 0.61, "plcc": 0.62, "srcc_ci": [0.5, 0.7], "plcc_ci": [0.5, 0.7], "images": 12, "rmse": 0.1}
    params.evaluate.metrics.parent.mkdir(parents=True, exist_ok=True)
    params.evaluate.metrics.write_text(json.dumps({"teacher": {"embedded": stats}, "student": {"embedded": stats},
                                                   "agreement": {"embedded": 0.7}}))

    def never(name):
        raise AssertionError(f"{name} trained again")

    result = seed_result(params, params.train.split_seed, tracked=never)
    assert result["teacher"]["srcc"] == 0.61 and result["agreement"] == 0.7 and "pipeline" in result["models"]
    assert "rmse" not in result["teacher"]


def test_seeds_aggregate_to_median_and_range_beside_the_paper():
    results = [_result(0, 0.5, 0.4), _result(1, 0.7, 0.45), _result(2, 0.6, 0.9, agreement=0.8)]
    summary = aggregate(results)
    assert summary["seeds"] == [0, 1, 2]
    assert summary["teacher_srcc"] == {"median": 0.6, "min": 0.5, "max": 0.7}
    assert summary["student_srcc"]["median"] == 0.45 and summary["agreement"]["max"] == 0.8
    table = seeds_table(results, "koniq10k")
    assert list(table["split seed"]) == ["0", "1", "2", "median", "min", "max", "DP-IQA paper"]
    assert table.set_index("split seed").loc["median", "teacher SRCC / PLCC"] == "0.600 / 0.610"
    assert table.set_index("split seed").loc["DP-IQA paper", "teacher SRCC / PLCC"] == "0.942 / 0.951"
    assert "DP-IQA paper" not in list(seeds_table(results, "embedded")["split seed"])


def test_a_collapsed_seed_is_left_out_of_the_median_and_no_seeds_is_an_error():
    collapsed = _result(1, 0.5, 0.4)
    collapsed["student"] = {"srcc": None, "plcc": None}
    summary = aggregate([_result(0, 0.6, 0.3), collapsed])
    assert summary["student_srcc"] == {"median": 0.3, "min": 0.3, "max": 0.3}
    assert aggregate([collapsed])["student_srcc"]["median"] is None
    with pytest.raises(ValueError, match="no split seed"):
        aggregate([])
