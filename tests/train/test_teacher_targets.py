"""The teacher_targets stage: the teacher's maps where the student's recipe trains on them, none otherwise."""

import json

import pytest
from safetensors import safe_open

from dpiqa.models.export import save_pretrained
from dpiqa.models.profiles import build_teacher
from dpiqa.train.pipeline import compute_teacher_targets, teacher_map_source


@pytest.fixture
def targets_params(small_dataset, tmp_path):
    def with_map_weight(weight: float):
        return small_dataset.model_copy(update={
            "teacher_targets": small_dataset.teacher_targets.model_copy(update={"out": tmp_path / "targets.safetensors"}),
            "train_teacher": small_dataset.train_teacher.model_copy(update={"out": tmp_path / "teacher"}),
            "distill_student": small_dataset.distill_student.model_copy(update={"recipes": {
                profile: recipe.model_copy(update={"map_loss_weight": weight})
                for profile, recipe in small_dataset.distill_student.recipes.items()}}),
        })

    return with_map_weight


def test_no_map_is_computed_for_a_student_that_trains_on_none(targets_params):
    params = targets_params(0.0)
    assert not params.train_teacher.out.exists()  # no teacher is even loaded
    with safe_open(compute_teacher_targets(params), framework="pt") as handle:
        assert handle.metadata()["mode"] == "unused" and not list(handle.keys())


def test_a_map_term_gets_every_training_image_mapped_by_the_trained_teacher(targets_params):
    params = targets_params(0.5)
    teacher = build_teacher(params.profile, params.models.prompt_cache, params.base.seed)
    save_pretrained(teacher, params.train_teacher.out, image_size=params.profile.image_size,
                    resize=params.profile.resize, training={})
    with safe_open(compute_teacher_targets(params), framework="pt") as handle:
        images, maps = json.loads(handle.metadata()["images"]), handle.get_tensor("maps")
    assert sorted(images) == [f"img{i}.png" for i in range(6)] and maps.shape[0] == 6


@pytest.mark.parametrize(("mode", "weight", "source"), [("online", 0.0, "unused"), ("cached", 0.0, "unused"),
                                                        ("online", 0.5, "online"), ("cached", 0.5, "cached")])
def test_the_student_reads_maps_only_where_its_recipe_weighs_them(targets_params, mode, weight, source):
    params = targets_params(weight)
    params = params.model_copy(update={"teacher_targets": params.teacher_targets.model_copy(update={"mode": mode})})
    assert teacher_map_source(params) == source
