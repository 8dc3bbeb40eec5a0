"""The sd15 profile's structure, built on the meta device: no memory, no weights."""

import pytest
import torch

from dpiqa.models.profiles import build_student, build_teacher_architecture


def _count(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def sd15_teacher(raw_params):
    from dpiqa.config import Params

    return build_teacher_architecture(Params.model_validate(raw_params).models.profiles["sd15"])


@pytest.fixture(scope="module")
def sd15_student(raw_params):
    from dpiqa.config import Params

    with torch.device("meta"):
        return build_student(Params.model_validate(raw_params).models.profiles["sd15"], 0,
                             imagenet_weights=False)


@pytest.mark.parametrize(
    "part,millions",
    [("unet", 859.5), ("img_adapter", 77.4), ("QFD", 42.9), ("vae", 83.7)],
)
def test_teacher_parts_have_the_papers_parameter_counts(sd15_teacher, part, millions):
    assert _count(getattr(sd15_teacher, part)) / 1e6 == pytest.approx(millions, rel=0.01)


def test_text_adapter_and_gamma_have_1_18m_parameters(sd15_teacher):
    count = _count(sd15_teacher.text_adapter) + sd15_teacher.gamma.numel()
    assert count / 1e6 == pytest.approx(1.18, rel=0.01)


def test_student_is_about_81m_parameters_and_14x_smaller(sd15_teacher, sd15_student):
    assert _count(sd15_student) / 1e6 == pytest.approx(81.0, rel=0.01)
    assert _count(sd15_student.base_model.features) / 1e6 == pytest.approx(63.8, rel=0.01)
    assert _count(sd15_teacher) / _count(sd15_student) == pytest.approx(13.1, rel=0.05)


def test_up_block_features_and_quality_map_shapes_at_512(sd15_teacher):
    images = torch.zeros(2, 3, 512, 512, device="meta")
    latents = sd15_teacher.latents(*sd15_teacher.posterior(images))
    assert latents.shape == (2, 4, 64, 64)
    features = sd15_teacher.up_block_features(latents, images)
    assert [tuple(f.shape[1:]) for f in features] == [
        (1280, 16, 16), (1280, 32, 32), (640, 64, 64), (320, 64, 64)]
    score, quality_map = sd15_teacher(images)
    assert score.shape == (2,) and quality_map.shape == (2, 8, 64, 64)


def test_student_map_matches_the_teachers(sd15_student):
    score, quality_map = sd15_student(torch.zeros(2, 3, 512, 512, device="meta"))
    assert score.shape == (2,) and quality_map.shape == (2, 8, 64, 64)


def test_teacher_keys_follow_the_authors_checkpoint(sd15_teacher):
    shapes = {k: tuple(v.shape) for k, v in sd15_teacher.state_dict().items()}
    assert shapes["QFD.conv1.weight"] == (512, 320, 3, 3)
    assert shapes["QFD.conv4.weight"] == (512, 1280, 3, 3)
    assert shapes["QFD.fuse_conv.weight"] == (512, 2048, 3, 3)
    assert shapes["QFD.fc1.weight"] == (512, 32768)
    assert shapes["QFD.fc3.weight"] == (1, 512)
    assert shapes["QFD.conv_score3.weight"] == (8, 32, 1, 1)
    assert shapes["QFD.bnc1.weight"] == (512,)
    assert shapes["QFD.classifier_dist.weight"] == (24, 512)
    assert shapes["gamma"] == (768,)
    assert shapes["text_adapter.fc.0.weight"] == (768, 768)
    assert shapes["text_adapter.fc.2.weight"] == (768, 768)
    for name in ("se1", "se2", "se3", "se4", "se_fuse"):
        assert shapes[f"QFD.{name}.fc.0.weight"] == (32, 512)
        assert shapes[f"QFD.{name}.fc.2.weight"] == (512, 32)
    assert "img_adapter.conv_in.weight" in shapes and "img_adapter.body.3.resnets.1.block2.weight" in shapes
    assert any(k.startswith("vae.encoder.") for k in shapes) and any(k.startswith("unet.up_blocks.") for k in shapes)
    assert not any("prompt_embeddings" in k for k in shapes)


def test_student_keys_follow_the_authors_checkpoint(sd15_student):
    shapes = {k: tuple(v.shape) for k, v in sd15_student.state_dict().items()}
    assert shapes["conv_transpose.weight"] == (2560, 8, 3, 3)
    assert shapes["fc1.weight"] == (512, 32768)
    prefixes = {k.split(".")[0] for k in shapes}
    assert prefixes == {"base_model", "conv_transpose", "fc1", "fc2", "fc3"}
    assert all(k.startswith("base_model.features.") for k in shapes if k.startswith("base_model"))
