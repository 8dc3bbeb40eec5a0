import shutil

import pytest
import yaml
from pydantic import ValidationError

from dpiqa.config import (
    DistillStudentView,
    DownloadView,
    EncodeLatentsView,
    EvaluateView,
    Params,
    PretrainPriorView,
    RegisterView,
    SplitView,
    TeacherTargetsView,
    TrainTeacherView,
    ValidateView,
    load_params,
)
from dpiqa.data.cards import cards
from dpiqa.errors import DPIQAError

from .conftest import REPO, deep_update


def test_the_committed_params_load():
    params = load_params(REPO / "params.yaml")
    assert params.base.dataset in params.data.datasets


def test_paths_and_machine_settings_come_from_workspace_yaml():
    params = load_params(REPO / "params.yaml")
    workspace = yaml.safe_load((REPO / "workspace.yaml").read_text())
    assert str(params.train_teacher.out) == workspace["train_teacher"]["out"]
    assert params.runtime.num_workers == workspace["runtime"]["num_workers"]
    assert "out" not in yaml.safe_load((REPO / "params.yaml").read_text())["train_teacher"]


def test_a_key_in_both_files_or_a_missing_workspace_is_a_user_error(tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["runtime"] = {"num_workers": 0}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(DPIQAError, match="workspace.yaml"):
        load_params(tmp_path / "params.yaml")
    shutil.copy(REPO / "workspace.yaml", tmp_path)
    with pytest.raises(DPIQAError, match="runtime.num_workers is set in both"):
        load_params(tmp_path / "params.yaml")


def test_train_recipe_is_shared_by_every_recipe_unless_one_overrides_it(raw_params):
    shared = raw_params["train"]["recipe"]
    params = Params.model_validate(deep_update(raw_params, {
        "train": {"recipe": {**shared, "weight_decay": 0.01}},
        "distill_student": {"recipes": {"tiny": {"weight_decay": 0.5}}},
    }))
    assert params.train_teacher.recipes["tiny"].weight_decay == params.train_teacher.recipes["sd15"].weight_decay == 0.01
    assert params.distill_student.recipes["tiny"].weight_decay == 0.5
    assert params.distill_student.recipes["sd15"].lr_gamma == shared["lr_gamma"]


def test_sd15_trains_each_paper_dataset_with_the_authors_milestones(raw_params):
    params = Params.model_validate(raw_params)
    teacher, student = params.train_teacher, params.distill_student
    authors = {"koniq10k": ([5], [5]), "clive": ([10], [10, 25]), "livefb": ([2], [4]), "spaq": ([5], [6])}
    for dataset, (teacher_milestones, student_milestones) in authors.items():
        assert teacher.recipe("sd15", dataset).milestones == teacher_milestones, dataset
        assert student.recipe("sd15", dataset).milestones == student_milestones, dataset
        assert student.recipe("sd15", dataset).lr == student.recipes["sd15"].lr  # only what the entry names changes
    assert teacher.recipe("tiny", "clive") == teacher.recipes["tiny"]


def test_a_per_dataset_recipe_is_checked_like_any_recipe(raw_params):
    def with_override(override: dict) -> dict:
        return deep_update(raw_params, {"train_teacher": {"recipes": {"sd15": {"by_dataset": override}}}})

    with pytest.raises(ValidationError, match="milestons"):
        Params.model_validate(with_override({"clive": {"milestons": [3]}}))
    with pytest.raises(ValidationError, match="not in data.sources"):
        Params.model_validate(with_override({"kadid": {"milestones": [3]}}))
    shared = raw_params["train"]["recipe"]
    params = Params.model_validate(deep_update(with_override({"spaq": {"lr": 2.0e-5}}),
                                               {"train": {"recipe": {**shared, "weight_decay": 0.01}}}))
    assert params.train_teacher.recipe("sd15", "spaq").weight_decay == 0.01  # the shared recipe under it too
    assert params.train_teacher.recipe("sd15", "spaq").lr == 2.0e-5


def test_every_card_has_a_source_section_and_vice_versa(raw_params):
    assert set(cards()) == set(raw_params["data"]["sources"])


def test_a_typo_in_params_is_an_error(raw_params):
    with pytest.raises(ValidationError, match="test_fractoin"):
        Params.model_validate(deep_update(raw_params, {"split": {"test_fractoin": 0.3}}))


def test_a_reversed_folder_range_is_an_error(raw_params):
    bad = deep_update(raw_params, {"data": {"sources": {"folder": {"mos_range": [5, 1]}}}})
    with pytest.raises(ValidationError, match="min < max"):
        Params.model_validate(bad)


def test_an_unknown_augmentation_is_an_error(raw_params):
    bad = deep_update(raw_params, {"train_teacher": {"recipes": {"tiny": {"augment": "mixup"}}}})
    with pytest.raises(ValidationError, match="augment"):
        Params.model_validate(bad)


def test_an_unknown_precision_is_an_error_when_params_load_not_when_training_starts(raw_params):
    bad = deep_update(raw_params, {"train": {"precision": {"sd15": {"cpu": "bf16"}}}})
    with pytest.raises(ValidationError, match="precision"):
        Params.model_validate(bad)


@pytest.mark.parametrize("student", [{"input_normalisation": "lcn", "lcn": None},
                                     {"input_normalisation": "imagenet", "lcn": {"window": 7, "eps": 0.004}}])
def test_student_lcn_settings_come_with_lcn_normalisation_only(raw_params, student):
    bad = deep_update(raw_params, {"models": {"profiles": {"tiny": {"student": student}}}})
    with pytest.raises(ValidationError, match="input_normalisation lcn takes lcn settings"):
        Params.model_validate(bad)


@pytest.mark.parametrize("adapter_input, message", [
    ({"kind": "highpass", "window": 3, "gain": None, "eps": None}, "highpass takes window and gain, got window"),
    ({"kind": "highpass", "window": 4, "gain": 10.0, "eps": None}, "the window must be odd"),
    ({"kind": "pixels", "window": 3, "gain": 10.0, "eps": None}, "pixels takes no window, gain or eps"),
    ({"kind": "lcn", "window": 7, "gain": 10.0, "eps": 0.004}, "lcn takes window and eps, got window, gain, eps"),
])
def test_adapter_input_settings_must_fit_their_kind(raw_params, adapter_input, message):
    bad = deep_update(raw_params, {"models": {"profiles": {"tiny": {"teacher": {"image_adapter_input": adapter_input}}}}})
    with pytest.raises(ValidationError, match=message):
        Params.model_validate(bad)


def test_mos_ranges_come_from_the_cards():
    for card in cards().values():
        assert card.mos_range is None or card.mos_range[0] < card.mos_range[1]


def test_every_card_names_a_registered_parser():
    from dpiqa.data.sources import PARSERS

    assert {card.parser for card in cards().values()} <= set(PARSERS)


def test_a_source_section_without_a_card_is_an_error(raw_params):
    with pytest.raises(ValidationError, match="no dataset card for \\['imagenet'\\]"):
        Params.model_validate(deep_update(raw_params, {"data": {"sources": {"imagenet": {"path": None}}}}))


def test_a_new_dataset_is_one_card_and_its_parser(make_params, monkeypatch, tmp_path):
    """No edit to config.py, the parser table or the data stages: a card naming a registered
    parser, and the dataset's section in params."""
    from dpiqa.data.cards import DatasetCard, nominal_mos_range
    from dpiqa.data.datasets import suite_spec
    from dpiqa.data.manifest import build_manifest
    from dpiqa.data.sources import PARSERS, prepare_dataset, user_provided

    from .data.conftest import write_image

    folder = tmp_path / "mine"
    for index in range(3):
        write_image(folder / f"{index}.png", seed=index)
    (folder / "scores.txt").write_text("0.png 2\n1.png 6\n2.png 9\n")

    def parse_mine(root, _settings):
        rows = [line.split() for line in (root / "scores.txt").read_text().splitlines()]
        return build_manifest("mine", [name for name, _ in rows], [float(mos) for _, mos in rows], (0, 10))

    monkeypatch.setitem(cards(), "mine", DatasetCard(
        key="mine", name="Mine", mos_range=(0, 10), label="scores.txt", expected_count=3, synthetic=False,
        source="manual", parser="mine_format", instructions="point data.sources.mine.path at it"))
    monkeypatch.setitem(PARSERS, "mine_format", user_provided(parse_mine))
    params = make_params({"data": {"datasets": ["embedded", "mine"], "sources": {"mine": {"path": str(folder)}}}})
    manifest = prepare_dataset("mine", params)
    assert list(manifest["mos"]) == pytest.approx([0.2, 0.6, 0.9])
    assert (params.data.dataset_dir("mine") / "2.png").is_file()
    assert nominal_mos_range("mine", params) == (0, 10) and suite_spec("mine", params).expected_count == 3


def test_profiles_share_the_teacher_settings_and_override_them(raw_params):
    shared = deep_update(raw_params, {"models": {"teacher": {"timestep": 7},
                                                 "profiles": {"tiny": {"teacher": {"timestep": 3}}}}})
    profiles = Params.model_validate(shared).models.profiles
    assert profiles["sd15"].teacher.timestep == 7 and profiles["tiny"].teacher.timestep == 3
    assert profiles["sd15"].teacher.vae_input_range == raw_params["models"]["teacher"]["vae_input_range"]
    assert profiles["sd15"].teacher.latent == "sample" != profiles["tiny"].teacher.latent  # the authors' / as measured


@pytest.mark.parametrize(
    ("profile", "teacher", "message"),
    [("sd15", {"unet": {"sample_size": 64}}, "architecture is its checkpoint's"),
     ("tiny", {"vae": None}, "needs its unet, vae and clip")],
)
def test_a_teacher_has_weights_or_an_architecture_not_both(raw_params, profile, teacher, message):
    bad = deep_update(raw_params, {"models": {"profiles": {profile: {"teacher": teacher}}}})
    with pytest.raises(ValidationError, match=message):
        Params.model_validate(bad)


def test_validation_checks_images_against_the_scoring_limits(make_params):
    from dpiqa.data.datasets import suite_spec

    params = make_params({"score": {"min_image_side": 48, "max_image_pixels": 1000}})
    spec = suite_spec("embedded", params)
    assert (spec.min_image_side, spec.max_image_pixels) == (48, 1000)


STAGE_VIEWS = {  # DVC stage -> the view its library entry narrows Params to
    "download@embedded": DownloadView, "validate@embedded": ValidateView,
    "split@embedded": SplitView, "encode_latents": EncodeLatentsView,
    "pretrain_prior": PretrainPriorView, "train_teacher": TrainTeacherView, "teacher_targets": TeacherTargetsView,
    "distill_student": DistillStudentView, "evaluate": EvaluateView, "register": RegisterView,
}


def test_each_stage_view_holds_only_sections_its_stage_declares():
    """A library entry can read no section that dvc.yaml does not declare (or template a path
    from) for its stage, apart from workspace.yaml's machine settings."""
    from .e2e.test_declared_params import declared, untracked

    declared_sections = {stage: {entry.split(".")[0] for entry in entries} for stage, entries in declared(REPO).items()}
    machine = {key for key in untracked(REPO) if "." not in key}
    assert "runtime" in machine and "train" not in machine
    for stage, view in STAGE_VIEWS.items():
        sections = {field.alias or name for name, field in view.model_fields.items()}
        assert sections <= declared_sections[stage] | machine, (stage, sections - declared_sections[stage] - machine)


def test_a_view_refuses_the_sections_it_does_not_hold(make_params):
    params = make_params()
    download = DownloadView.of(params)
    assert download.data is params.data and download.source("embedded") is params.data.sources["embedded"]
    with pytest.raises(AttributeError):
        download.train  # noqa: B018
    teacher = TrainTeacherView.of(params)
    assert teacher.profile is params.profile and teacher.split_file() == params.split_file()
    assert TrainTeacherView.of(teacher) is teacher
    assert teacher.logged("base", "train_teacher") == params.logged("base", "train_teacher")
