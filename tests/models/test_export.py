"""A saved model folder rebuilds the same model, and saving it is byte-reproducible."""

import json
import subprocess
import sys

import torch

from dpiqa.models.export import load_model, save_model


def test_a_saved_teacher_loads_and_scores_as_before(tiny_teacher, tiny_profile, tmp_path):
    save_model(tiny_teacher, tmp_path / "teacher", tiny_profile, dataset="embedded", mos_range=[0, 100])
    loaded, info = load_model(tmp_path / "teacher")
    images = torch.rand(2, 3, tiny_profile.image_size, tiny_profile.image_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(loaded(images)[0], tiny_teacher.eval()(images)[0], atol=1e-6)
    assert info["vae_config"]["scaling_factor"] == tiny_teacher.vae.config.scaling_factor


def test_model_json_is_the_same_from_every_process(tiny_teacher, tiny_profile, tmp_path):
    """diffusers' `_use_default_values` lists a set in hash order: string hashing differs per
    process, so the file (and DVC's hash of the model) would too."""
    save_model(tiny_teacher, tmp_path / "teacher", tiny_profile, dataset="embedded", mos_range=[0, 100])
    record = json.loads((tmp_path / "teacher" / "model.json").read_text())
    assert not [key for key in record["unet_config"] | record["vae_config"] if key.startswith("_")]
    dump = ("import json; from diffusers import AutoencoderKL as A; "
            "print(json.dumps(dict(A(block_out_channels=(8,), norm_num_groups=4).config)))")
    runs = {subprocess.run([sys.executable, "-c", dump], capture_output=True, text=True, env={"PYTHONHASHSEED": str(seed)}).stdout
            for seed in (1, 2)}
    assert len(runs) == 2  # the cause: the raw config differs between processes
