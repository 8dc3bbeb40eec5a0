"""The encode_latents stage and teacher training from its cache."""

import pytest
import torch
from safetensors.torch import load_file

from dpiqa.data.loading import POSTERIOR_FIELDS, ImageTensors, IQADataset, split_table
from dpiqa.errors import DPIQAError
from dpiqa.models.profiles import build_teacher
from dpiqa.train.pipeline import _check_latent_cache, cached_latent_splits, datamodule, encode_latents


def _augmenting(params, augment: str):
    """`params` with the teacher's recipe (every profile's) set to `augment`."""
    config = params.train_teacher
    recipes = {profile: recipe.model_copy(update={"augment": augment}) for profile, recipe in config.recipes.items()}
    return params.model_copy(update={"train_teacher": config.model_copy(update={"recipes": recipes})})


@pytest.mark.parametrize(("augment", "cached"), [("none", [f"img{i}.png" for i in range(8)]),
                                                 ("dihedral", ["img6.png", "img7.png"])])
def test_the_cache_holds_the_vae_posterior_of_the_splits_the_teacher_reads_from_it(small_dataset, augment, cached):
    """An augmented training batch is re-encoded, so then only validation's images are cached."""
    params = _augmenting(small_dataset, augment)
    assert params.train_teacher.recipe(params.base.profile, params.base.dataset).augment == augment
    out = encode_latents(params)
    tensors = load_file(out)
    side = params.profile.image_size // 8
    assert tensors["mean"].shape == tensors["std"].shape == (len(cached), 4, side, side)
    cache = ImageTensors(out, POSTERIOR_FIELDS)
    assert sorted(cache.images) == cached

    teacher = build_teacher(params.profile, params.models.prompt_cache, params.base.seed).eval()
    table = split_table(params.data.manifest_path("embedded"), params.split_file(), "val")
    dataset = IQADataset(table, params.data.dataset_dir("embedded"), params.profile.image_size, [cache])
    item = dataset[0]
    with torch.no_grad():
        mean, std = teacher.posterior(item["image"][None])
    torch.testing.assert_close(item["latent_mean"], mean[0], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(item["latent_std"], std[0], atol=1e-5, rtol=1e-4)
    _check_latent_cache(out, teacher)  # the same weights: accepted


def test_a_cache_from_other_vae_weights_is_refused(small_dataset):
    params = small_dataset
    out = encode_latents(params)
    other = build_teacher(params.profile, params.models.prompt_cache, params.base.seed + 1)
    with pytest.raises(DPIQAError, match="different VAE weights"):
        _check_latent_cache(out, other)


def test_a_cache_for_another_input_size_is_refused(small_dataset):
    params = small_dataset
    out = encode_latents(params)
    profile = params.profile.model_copy(update={"image_size": params.profile.image_size * 2})
    bigger = build_teacher(profile, params.models.prompt_cache, params.base.seed)
    with pytest.raises(DPIQAError, match="px latents"):
        _check_latent_cache(out, bigger)


def test_an_augmenting_teacher_reads_the_cache_for_validation_only(small_dataset):
    params = _augmenting(small_dataset, "dihedral")
    out = encode_latents(params)
    data = datamodule(params, batch_size=2, latent_cache=out, latent_splits=cached_latent_splits(params))
    data.setup("fit")
    assert "latent_mean" in data.val_set[0] and "latent_mean" not in data.train_set[0]


def test_a_cache_missing_images_is_refused(small_dataset):
    params = small_dataset
    out = encode_latents(params)
    table = split_table(params.data.manifest_path("embedded"), params.split_file(), "test")
    with pytest.raises(DPIQAError, match="lacks 2 images"):
        IQADataset(table, params.data.dataset_dir("embedded"), params.profile.image_size,
                   [ImageTensors(out, POSTERIOR_FIELDS)])
