"""A saved model folder carries its own config: it rebuilds the same model from config.json alone
(no profile), says how it reads images and how it was trained, and saving it is byte-reproducible."""

import json
import subprocess
import sys

import torch

from dpiqa.models.export import load_pretrained, save_pretrained
from dpiqa.models.folder import CONFIG

TRAINING = {"dataset": "embedded", "mos_range": [0, 100], "recipe": {"lr": 1e-3, "map_loss_weight": 0.5}}


def _images(size: int) -> torch.Tensor:
    return torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0))


def test_a_saved_teacher_rebuilds_from_its_config_and_scores_as_before(tiny_teacher, tiny_profile, tmp_path):
    save_pretrained(tiny_teacher, tmp_path / "teacher", image_size=tiny_profile.image_size, training=TRAINING)
    loaded, config = load_pretrained(tmp_path / "teacher")
    images = _images(tiny_profile.image_size)
    with torch.no_grad():
        assert torch.allclose(loaded(images)[0], tiny_teacher.eval()(images)[0], atol=1e-6)
    assert config["_class_name"] == "DPIQATeacher"
    assert config["architecture"]["vae"]["scaling_factor"] == tiny_teacher.vae.config.scaling_factor
    assert config["architecture"]["adapter_input"] == tiny_profile.teacher.image_adapter_input.model_dump(exclude_none=True)


def test_a_saved_student_says_how_it_reads_images_and_how_it_was_trained(tiny_student, tiny_profile, tmp_path):
    save_pretrained(tiny_student, tmp_path / "student", image_size=tiny_profile.image_size, training=TRAINING)
    config = json.loads((tmp_path / "student" / CONFIG).read_text())
    assert config["architecture"] == {"backbone": tiny_profile.student.backbone, "map_size": tiny_student.map_size,
                                      "map_channels": tiny_profile.teacher.qfd.map_channels,
                                      "mlp_hidden": tiny_profile.student.mlp_hidden,
                                      "input_normalisation": tiny_profile.student.input_normalisation,
                                      "head": tiny_profile.student.head,
                                      **({"lcn": tiny_profile.student.lcn.model_dump()} if tiny_profile.student.lcn else {})}
    assert config["preprocessing"]["image_size"] == tiny_profile.image_size and config["preprocessing"]["range"] == [0, 1]
    assert config["training"]["recipe"]["map_loss_weight"] == 0.5
    loaded, _ = load_pretrained(tmp_path / "student")
    images = _images(tiny_profile.image_size)
    with torch.no_grad():
        assert torch.allclose(loaded(images)[0], tiny_student.eval()(images)[0], atol=1e-6)


def test_the_config_is_the_same_from_every_process(tiny_teacher, tiny_profile, tmp_path):
    """diffusers' `_use_default_values` lists a set in hash order: string hashing differs per
    process, so the file (and DVC's hash of the model) would too."""
    save_pretrained(tiny_teacher, tmp_path / "teacher", image_size=tiny_profile.image_size, training=TRAINING)
    architecture = json.loads((tmp_path / "teacher" / CONFIG).read_text())["architecture"]
    assert not [key for key in architecture["unet"] | architecture["vae"] if key.startswith("_")]
    dump = ("import json; from diffusers import AutoencoderKL as A; "
            "print(json.dumps(dict(A(block_out_channels=(8,), norm_num_groups=4).config)))")
    runs = {subprocess.run([sys.executable, "-c", dump], capture_output=True, text=True, env={"PYTHONHASHSEED": str(seed)}).stdout
            for seed in (1, 2)}
    assert len(runs) == 2  # the cause: the raw config differs between processes
