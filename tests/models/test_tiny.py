"""The tiny profile end to end on the CPU: forward, backward, where gradients go, determinism."""


import pytest
import torch

from ..conftest import RANDOM_INIT, deep_update


def _images(profile, batch=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, profile.image_size, profile.image_size, generator=generator)


def test_teacher_forward_backward_reaches_every_trained_part(tiny_teacher, tiny_profile):
    tiny_teacher.train()
    score, quality_map = tiny_teacher(_images(tiny_profile))
    side = tiny_profile.image_size // 8
    assert score.shape == (2,) and quality_map.shape == (2, 8, side, side)
    (score.square().mean() + quality_map.mean()).backward()
    for part in ("unet", "img_adapter", "text_adapter", "QFD"):
        grads = [p.grad for n, p in getattr(tiny_teacher, part).named_parameters()
                 if p.requires_grad and p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), part
    assert tiny_teacher.gamma.grad is not None and tiny_teacher.gamma.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in tiny_teacher.vae.parameters())
    assert not tiny_teacher.prompt_embeddings.requires_grad
    assert all(torch.isfinite(p.grad).all() for p in tiny_teacher.parameters() if p.grad is not None)


def test_the_vae_stays_frozen_in_train_mode(tiny_teacher):
    tiny_teacher.train()
    assert not tiny_teacher.vae.training and tiny_teacher.unet.training


def test_student_forward_backward_and_map_shape(tiny_student, tiny_teacher, tiny_profile):
    images = _images(tiny_profile)
    score, quality_map = tiny_student(images)
    tiny_teacher.eval()
    with torch.no_grad():
        teacher_map = tiny_teacher(images)[1]
    assert score.shape == (2,) and quality_map.shape == teacher_map.shape
    (score.mean() + quality_map.mean()).backward()
    assert tiny_student.base_model.features[0][0].weight.grad is not None


def test_scoring_the_same_image_twice_gives_the_same_score(tiny_teacher, tiny_student, tiny_profile):
    images = _images(tiny_profile)
    for model in (tiny_teacher.eval(), tiny_student.eval()):
        with torch.no_grad():
            first, second = model(images)[0], model(images)[0]
        assert torch.equal(first, second)


def test_a_sampled_latent_trains_on_samples_and_scores_the_mean(tiny_profile, tmp_path):
    from dpiqa.models.profiles import build_teacher

    profile = tiny_profile.model_copy(
        update={"teacher": tiny_profile.teacher.model_copy(update={"latent": "sample"})})
    teacher = build_teacher(profile, tmp_path, seed=0)
    images = _images(profile)
    with torch.no_grad():
        mean, std = teacher.posterior(images)
        teacher.train()
        assert not torch.equal(teacher.latents(mean, std), teacher.latents(mean, std))
        teacher.eval()
        assert torch.equal(teacher.latents(mean, std), mean * teacher.vae.config.scaling_factor)
        assert torch.equal(teacher(images)[0], teacher(images)[0])  # a score is the same every time


def test_the_same_seed_builds_the_same_teacher(tiny_profile, tmp_path):
    from dpiqa.models.profiles import build_teacher

    a = build_teacher(tiny_profile, tmp_path, seed=3).state_dict()
    b = build_teacher(tiny_profile, tmp_path, seed=3).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_cached_posterior_gives_the_same_scores_as_encoding(tiny_teacher, tiny_profile):
    images = _images(tiny_profile)
    teacher = tiny_teacher.eval()
    with torch.no_grad():
        posterior = teacher.posterior(images)
        from_images, from_cache = teacher(images), teacher(images, posterior=posterior)
        shifted = teacher(images, posterior=(posterior[0] + 1, posterior[1]))
    assert all(torch.equal(a, b) for a, b in zip(from_images, from_cache))
    assert not torch.equal(from_images[1], shifted[1])  # the cached latents are really used (maps: an
    # untrained score layer starts at zero weight, so every score is the midpoint)


def test_shared_prompt_attention_matches_diffusers_over_a_batch_expanded_context(tiny_teacher, tiny_profile):
    from diffusers.models.attention_processor import AttnProcessor2_0

    teacher = tiny_teacher.eval()
    images = _images(tiny_profile, batch=3)
    latents = teacher.latents(*teacher.posterior(images))
    with torch.no_grad():
        shared = teacher.up_block_features(latents, images)
        teacher.unet.set_attn_processor(AttnProcessor2_0())
        expand_context = teacher.prompt_context
        teacher.prompt_context = lambda: expand_context().expand(len(images), -1, -1)
        expanded = teacher.up_block_features(latents, images)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(shared, expanded))
    assert not torch.allclose(shared[-1][0], shared[-1][1])  # images still differ: nothing was mixed


def test_the_unet_denoises_as_many_channels_as_the_vae_encodes(make_params, tmp_path):
    from dpiqa.models.profiles import build_teacher

    wide = deep_update(RANDOM_INIT, {"models": {"profiles": {"tiny": {"teacher": {"vae": {"latent_channels": 8}}}}}})
    profile = make_params(wide).models.profiles["tiny"]
    teacher = build_teacher(profile, tmp_path, seed=0)
    assert teacher.unet.config.in_channels == 8
    score, _ = teacher(_images(profile))
    assert torch.isfinite(score).all()


def test_highpass_and_lcn_adapter_inputs_ignore_brightness_and_pixels_do_not(make_params, tmp_path):
    from dpiqa.models.profiles import build_teacher

    images = _images(make_params().models.profiles["tiny"]) * 0.5
    for kind, settings in (("highpass", {"window": 3, "gain": 10.0, "eps": None}),
                           ("lcn", {"window": 7, "gain": None, "eps": 1 / 255}),
                           ("pixels", {"window": None, "gain": None, "eps": None})):
        change = {"models": {"profiles": {"tiny": {"teacher": {"image_adapter_input": {"kind": kind, **settings}}}}}}
        teacher = build_teacher(make_params(deep_update(RANDOM_INIT, change)).models.profiles["tiny"], tmp_path, seed=0)
        with torch.no_grad():
            plain, brighter = (teacher.img_adapter(teacher.adapter_input(x))[0] for x in (images, images + 0.3))
        assert torch.allclose(plain, brighter, atol=1e-4) == (kind != "pixels"), kind


def test_the_highpass_of_a_flat_image_is_zero_and_of_detail_is_not():
    from dpiqa.models.teacher import HighPass

    high_pass = HighPass(window=3, gain=10.0)
    assert high_pass(torch.full((1, 3, 8, 8), 0.4)).abs().max() < 1e-5
    checkerboard = (torch.arange(8)[:, None] + torch.arange(8)[None, :]) % 2
    assert high_pass(checkerboard.float().expand(1, 3, 8, 8)).abs().min() > 1


@pytest.mark.parametrize("normalisation", ["none", "imagenet", "lcn", "lcn_with_pixels"])
def test_the_student_feeds_its_backbone_raw_normalised_or_contrast_normalised_pixels(normalisation):
    from dpiqa.models.filters import local_contrast_normalise
    from dpiqa.models.student import IMAGENET_MEAN, IMAGENET_STD, DPIQAStudent

    kind = normalisation.removesuffix("_with_pixels")
    lcn = {"window": 7, "eps": 1 / 255, "with_pixels": normalisation == "lcn_with_pixels"} if kind == "lcn" else None
    student = DPIQAStudent("mobilenet_v3_small", map_size=8, map_channels=8, mlp_hidden=16,
                           input_normalisation=kind, lcn=lcn).eval()
    seen = []
    student.base_model.features.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0]))
    images = torch.rand(2, 3, 64, 64)
    student(images)
    imagenet = (images - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    expected = {
        "none": images,
        "imagenet": imagenet,
        "lcn": local_contrast_normalise(images, 7, 1 / 255),
        "lcn_with_pixels": torch.cat([local_contrast_normalise(images, 7, 1 / 255), imagenet], dim=1),
    }[normalisation]
    assert torch.allclose(seen[0], expected)
    rebuilt = DPIQAStudent.from_config(student.config)
    assert rebuilt.config["input_normalisation"] == kind and rebuilt.config.get("lcn") == lcn
    rebuilt.load_state_dict(student.state_dict())  # the same shapes: a checkpoint loads into its config


def test_the_pixels_beside_lcn_keep_the_first_convolutions_rgb_weights():
    from dpiqa.models.student import widen_first_convolution

    features = torch.nn.Sequential(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, bias=False), torch.nn.ReLU()))
    rgb_weights = features[0][0].weight.detach().clone()
    widen_first_convolution(features, extra_channels=3)
    wider = features[0][0]
    assert wider.in_channels == 6 and torch.equal(wider.weight[:, 3:], rgb_weights)
    assert wider.weight[:, :3].std() > 0  # the new channels start random, not silent


def test_a_contrast_normalising_student_needs_its_window_and_eps():
    from dpiqa.models.student import DPIQAStudent

    with pytest.raises(ValueError, match="lcn settings"):
        DPIQAStudent("mobilenet_v3_small", map_size=8, map_channels=8, mlp_hidden=16, input_normalisation="lcn")
