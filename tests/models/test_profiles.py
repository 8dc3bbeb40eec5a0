"""sd15 with no weights available must fail fast and clearly, never fall back to random."""


import huggingface_hub
import pytest
from transformers import CLIPTokenizer

from dpiqa.models import profiles
from dpiqa.models.profiles import WeightsNotFoundError, build_teacher


@pytest.fixture
def empty_offline_hub(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    lookup = huggingface_hub.try_to_load_from_cache
    monkeypatch.setattr(
        huggingface_hub, "try_to_load_from_cache",
        lambda repo, name: lookup(repo, name, cache_dir=tmp_path / "empty-hub-cache"),
    )


def test_sd15_without_weights_fails_fast_naming_what_is_missing(sd15_profile, tmp_path, empty_offline_hub,
                                                               monkeypatch):
    """Fast: it fails before any model is loaded (timings live in benchmarks/)."""
    loads = []
    monkeypatch.setattr(profiles, "_from_pretrained", lambda *args, **kwargs: loads.append(args))
    with pytest.raises(WeightsNotFoundError) as error:
        build_teacher(sd15_profile, tmp_path / "prompts", seed=0)
    assert loads == []
    message = str(error.value)
    assert "openai/clip-vit-large-patch14" in message  # prompts are embedded first
    assert "HF_HUB_OFFLINE" in message and "never substitutes random weights" in message


def test_sd15_unet_missing_is_named_once_prompts_are_cached(sd15_profile, tmp_path, empty_offline_hub, monkeypatch):
    monkeypatch.setattr(profiles, "prompt_embeddings", lambda *args: None)
    with pytest.raises(WeightsNotFoundError, match=r"Stable Diffusion \(unet\).*stable-diffusion-v1-5/stable-diffusion-v1-5.*unet/config.json"):
        build_teacher(sd15_profile, tmp_path, seed=0)


def test_a_local_directory_missing_files_is_named(tmp_path):
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "config.json").write_text("{}")
    with pytest.raises(WeightsNotFoundError, match="unet/diffusion_pytorch_model.safetensors") as error:
        profiles.require_weights(str(tmp_path), profiles.SD_FILES["unet"], "SD", "param.path")
    assert "unet/config.json" not in str(error.value).split("safetensors")[0].split("missing")[1]


def test_a_two_token_tokenizer_is_refused(monkeypatch):
    monkeypatch.setattr(profiles, "require_weights", lambda *args: None)
    monkeypatch.setattr(CLIPTokenizer, "from_pretrained", classmethod(lambda cls, *a, **k: CLIPTokenizer()))
    with pytest.raises(WeightsNotFoundError, match="has 2 tokens instead of about 49,408"):
        profiles._clip("openai/clip-vit-large-patch14")


def test_a_student_asking_for_missing_imagenet_weights_fails_naming_the_file(sd15_profile, tmp_path, monkeypatch):
    from dpiqa.errors import DPIQAError
    from dpiqa.models.profiles import build_student

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    assert sd15_profile.student.imagenet_weights
    with pytest.raises(DPIQAError, match=r"efficientnet_b7.*imagenet_weights.*torch-home/hub/checkpoints/efficientnet_b7_"
                                         r".*\.pth is missing.*Download https://download\.pytorch\.org"):
        build_student(sd15_profile, seed=0)
