import pytest
import torch
from safetensors.torch import save_file

from dpiqa.models.checkpoints import CheckpointMismatchError, load_weights


def _fresh(model_factory):
    model = model_factory()
    for parameter in model.parameters():
        parameter.data.zero_()
    return model


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_authors_style_checkpoints_load_strictly(tiny_student, tiny_profile, tmp_path, suffix):
    from dpiqa.models.profiles import build_student

    state = {k: v.contiguous() for k, v in tiny_student.state_dict().items()}
    path = tmp_path / f"student{suffix}"
    save_file(state, path) if suffix == ".safetensors" else torch.save({"state_dict": state}, path)
    target = _fresh(lambda: build_student(tiny_profile, seed=1))
    report = load_weights(target, path)
    assert report.clean
    assert all(torch.equal(target.state_dict()[k], v) for k, v in state.items())


def test_mismatched_keys_are_named(tiny_student, tmp_path):
    state = dict(tiny_student.state_dict())
    state.pop("fc3.bias")
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "bad.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, path)
    with pytest.raises(CheckpointMismatchError, match=r"1 missing keys.*fc3.bias.*1 unexpected keys.*extra.weight"):
        load_weights(tiny_student, path)
    report = load_weights(tiny_student, path, strict=False)
    assert report.missing == ["fc3.bias"] and report.unexpected == ["extra.weight"]
