from types import SimpleNamespace

import pytest
import torch

from dpiqa.train.modules import StudentModule, TeacherModule, dihedral, pairwise_margin_ranking_loss

from ..conftest import RANDOM_INIT

OPTIM = {"lr": 1e-3, "weight_decay": 0.0, "milestones": [2], "lr_gamma": 0.5, "min_val_prediction_std": 1e-3,
         "augment": "none", "schedule": "multistep", "warmup_fraction": 0.3}


def test_ranking_loss_is_zero_for_correctly_ordered_scores_beyond_the_margin():
    mos = torch.tensor([0.1, 0.5, 0.9])
    assert pairwise_margin_ranking_loss(torch.tensor([0.0, 1.0, 2.0]), mos, margin=0.5) == 0
    assert pairwise_margin_ranking_loss(torch.tensor([2.0, 1.0, 0.0]), mos, margin=0.0) > 0


def test_ranking_loss_ignores_ties():
    mos = torch.tensor([0.5, 0.5])
    assert pairwise_margin_ranking_loss(torch.tensor([1.0, 0.0], requires_grad=True), mos, 0.1) == 0


def _batch(tiny_profile, n=4):
    side = tiny_profile.image_size // 8
    return {"image": torch.rand(n, 3, tiny_profile.image_size, tiny_profile.image_size),
            "mos": torch.linspace(0.1, 0.9, n), "teacher_map": torch.rand(n, 8, side, side)}


def test_teacher_loss_is_mse_unless_ranking_is_switched_on(tiny_teacher, tiny_profile):
    batch = _batch(tiny_profile)
    score = torch.tensor([0.9, 0.5, 0.3, 0.1])
    plain = TeacherModule(tiny_teacher, ranking_weight=0.0, ranking_margin=0.0, **OPTIM)
    losses = plain.loss(batch, score, None)
    assert set(losses) == {"mse", "loss"} and losses["loss"] == torch.nn.functional.mse_loss(score, batch["mos"])
    ranked = TeacherModule(tiny_teacher, ranking_weight=2.0, ranking_margin=0.1, **OPTIM)
    losses = ranked.loss(batch, score, None)
    assert losses["ranking"] > 0
    assert losses["loss"] == pytest.approx(float(losses["mse"] + 2.0 * losses["ranking"]))


def test_student_loss_weights_the_map_term(tiny_student, tiny_profile):
    batch = _batch(tiny_profile)
    score, quality_map = torch.zeros(4), torch.zeros_like(batch["teacher_map"])
    losses = StudentModule(tiny_student, map_weight=3.0, **OPTIM).loss(batch, score, quality_map)
    expected = (batch["mos"] ** 2).mean() + 3.0 * (batch["teacher_map"] ** 2).mean()
    assert losses["loss"] == pytest.approx(float(expected))


def test_the_optimiser_skips_the_frozen_vae_and_follows_the_schedule(tiny_teacher):
    module = TeacherModule(tiny_teacher, ranking_weight=0.0, ranking_margin=0.0, **OPTIM)
    config = module.configure_optimizers()
    optimised = {id(p) for group in config["optimizer"].param_groups for p in group["params"]}
    assert not optimised & {id(p) for p in tiny_teacher.vae.parameters()}
    assert {id(p) for p in tiny_teacher.unet.down_blocks.parameters()} <= optimised
    assert not optimised & {id(p) for p in tiny_teacher.unet.conv_out.parameters()}  # never run
    scheduler = config["lr_scheduler"]["scheduler"]
    for _ in range(2):
        config["optimizer"].step()
        scheduler.step()
    assert config["optimizer"].param_groups[0]["lr"] == pytest.approx(5e-4)


def test_one_cycle_warms_up_to_the_recipe_lr_then_anneals_towards_zero(tiny_teacher):
    module = TeacherModule(tiny_teacher, ranking_weight=0.0, ranking_margin=0.0,
                           **{**OPTIM, "schedule": "one_cycle", "warmup_fraction": 0.25})
    module.trainer = SimpleNamespace(estimated_stepping_batches=20)
    config = module.configure_optimizers()
    optimizer, scheduler = config["optimizer"], config["lr_scheduler"]["scheduler"]
    assert config["lr_scheduler"]["interval"] == "step"
    rates = []
    for _ in range(20):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    peak = rates.index(max(rates))
    assert rates[0] < OPTIM["lr"] / 10 and max(rates) == pytest.approx(OPTIM["lr"])
    assert 4 <= peak <= 5  # a quarter of the 20 steps
    assert rates[-1] < OPTIM["lr"] / 100


def test_an_unknown_schedule_is_refused(tiny_teacher):
    with pytest.raises(ValueError, match="schedule"):
        TeacherModule(tiny_teacher, ranking_weight=0.0, ranking_margin=0.0, **{**OPTIM, "schedule": "cosine"})


def _fast_dev_run(module, batches) -> dict[str, torch.Tensor]:
    """One training and one validation batch in process (Lightning's fast_dev_run): the module's
    hooks, logging and optimiser run as `fit` runs them, in seconds."""
    import lightning as L
    from torch.utils.data import DataLoader

    loader = DataLoader(batches, batch_size=4)
    trainer = L.Trainer(fast_dev_run=True, accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False)
    before = {name: p.detach().clone() for name, p in module.named_parameters() if p.requires_grad}
    trainer.fit(module, train_dataloaders=loader, val_dataloaders=loader)
    changed = {name for name, p in module.named_parameters() if name in before and not torch.equal(p, before[name])}
    assert changed, "one optimiser step changed no parameter"
    return trainer.callback_metrics


def _rows(batch: dict) -> list[dict]:
    return [{key: value[i] for key, value in batch.items()} for i in range(len(batch["mos"]))]


@pytest.mark.parametrize("cached_posterior", [False, True])
def test_the_teacher_module_trains_and_validates_in_process(tiny_teacher, tiny_profile, cached_posterior):
    batch = _batch(tiny_profile)
    if cached_posterior:
        batch["latent_mean"], batch["latent_std"] = tiny_teacher.posterior(batch["image"])
    metrics = _fast_dev_run(TeacherModule(tiny_teacher, ranking_weight=1.0, ranking_margin=0.0, **OPTIM), _rows(batch))
    assert {"train/loss", "train/mse", "train/ranking", "val/srcc", "val/prediction_std"} <= set(metrics)
    assert torch.isfinite(metrics["train/loss"])


@pytest.mark.parametrize("augment", ["none", "dihedral"])
def test_the_student_module_trains_and_validates_in_process(tiny_student, tiny_profile, augment):
    module = StudentModule(tiny_student, map_weight=1.0, **{**OPTIM, "augment": augment})
    metrics = _fast_dev_run(module, _rows(_batch(tiny_profile)))
    assert {"train/loss", "train/mse", "train/map_mse", "val/srcc", "val/plcc"} <= set(metrics)
    assert torch.isfinite(metrics["train/map_mse"])


def test_dihedral_moves_each_image_and_its_map_together():
    images = torch.rand(64, 3, 16, 16)
    batch = {"image": images, "teacher_map": torch.nn.functional.avg_pool2d(images, 4), "mos": torch.rand(64)}
    torch.manual_seed(0)
    moved = dihedral(batch, ("image", "teacher_map"))
    assert torch.allclose(moved["teacher_map"], torch.nn.functional.avg_pool2d(moved["image"], 4))
    assert torch.equal(moved["mos"], batch["mos"])
    unchanged = [torch.equal(a, b) for a, b in zip(moved["image"], images)]
    assert 0 < sum(unchanged) < 32  # about 1 in 8 keeps its orientation
    assert torch.equal(moved["image"].flatten(1).sort().values, images.flatten(1).sort().values)  # pixels only move


def test_the_student_augments_training_batches_only(tiny_student, tiny_profile):
    module = StudentModule(tiny_student, map_weight=1.0, **{**OPTIM, "augment": "dihedral"})
    batch = _batch(tiny_profile, n=16)
    module.trainer = SimpleNamespace(training=False)
    assert module.on_after_batch_transfer(batch, 0) is batch
    module.trainer = SimpleNamespace(training=True)
    assert not torch.equal(module.on_after_batch_transfer(batch, 0)["image"], batch["image"])


def test_an_augmented_teacher_batch_drops_its_cached_posterior(tiny_teacher, tiny_profile):
    module = TeacherModule(tiny_teacher, ranking_weight=0.0, ranking_margin=0.0, **{**OPTIM, "augment": "dihedral"})
    batch = {**_batch(tiny_profile, n=16), "latent_mean": torch.rand(16, 4, 16, 16), "latent_std": torch.rand(16, 4, 16, 16)}
    module.trainer = SimpleNamespace(training=False)
    assert module.on_after_batch_transfer(batch, 0) is batch  # validation reads the cache
    module.trainer = SimpleNamespace(training=True)
    augmented = module.on_after_batch_transfer(batch, 0)
    assert "latent_mean" not in augmented and "latent_std" not in augmented
    assert not torch.equal(augmented["image"], batch["image"])
    score, _ = module.predict_batch(augmented)  # encoded by the VAE instead
    assert score.shape == (16,)


def test_an_unknown_augmentation_is_an_error(tiny_student):
    with pytest.raises(ValueError, match="augment"):
        StudentModule(tiny_student, map_weight=1.0, **{**OPTIM, "augment": "mixup"})


def test_gradient_checkpointing_changes_memory_not_gradients(make_params, tiny_profile, tmp_path):
    from dpiqa.config import TrainTeacherView
    from dpiqa.train.pipeline import trainable_teacher

    teachers = {}
    for flag in (False, True):
        params = TrainTeacherView.of(make_params({**RANDOM_INIT, "train": {"gradient_checkpointing": flag}}))
        teachers[flag] = trainable_teacher(params).train()
        assert teachers[flag].unet.is_gradient_checkpointing is flag
    images = _batch(tiny_profile)["image"]
    gradients = {}
    for flag, teacher in teachers.items():
        teacher(images)[0].square().sum().backward()
        gradients[flag] = [p.grad for p in teacher.unet.parameters() if p.grad is not None]
    assert len(gradients[True]) == len(gradients[False]) > 0
    for checkpointed, stored in zip(gradients[True], gradients[False]):
        torch.testing.assert_close(checkpointed, stored, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("augment", ["none", "dihedral"])
def test_an_online_teacher_maps_each_training_batch_and_stays_out_of_the_student(tiny_student, tiny_teacher,
                                                                                 tiny_profile, augment):
    module = StudentModule(tiny_student, map_weight=1.0, online_teacher=tiny_teacher, **{**OPTIM, "augment": augment})
    batch = _batch(tiny_profile)
    del batch["teacher_map"]
    seen = []
    loss = module.loss
    module.loss = lambda batch, score, quality_map: seen.append(batch) or loss(batch, score, quality_map)
    teacher_before = {name: p.clone() for name, p in tiny_teacher.state_dict().items()}
    metrics = _fast_dev_run(module, _rows(batch))
    assert torch.isfinite(metrics["train/map_mse"])
    with torch.no_grad():
        torch.testing.assert_close(seen[0]["teacher_map"], tiny_teacher(seen[0]["image"])[1])
    assert all(torch.equal(p, teacher_before[name]) for name, p in tiny_teacher.state_dict().items())
    assert not any(key.startswith("online_teacher") for key in module.state_dict())  # not in checkpoints


def test_an_online_teacher_whose_maps_weigh_nothing_is_never_run(tiny_student, tiny_teacher, tiny_profile):
    calls = []
    tiny_teacher.register_forward_hook(lambda *_: calls.append(1))
    module = StudentModule(tiny_student, map_weight=0.0, online_teacher=tiny_teacher, **{**OPTIM, "augment": "none"})
    batch = _batch(tiny_profile)
    del batch["teacher_map"]
    metrics = _fast_dev_run(module, _rows(batch))
    assert not calls and torch.isfinite(metrics["train/loss"]) and "train/map_mse" not in metrics
