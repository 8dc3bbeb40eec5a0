import json

import pytest
import torch

from dpiqa.train.fit import COMPLETE, FINGERPRINT, LAST, AtomicCheckpointIO, resume_path


def _unfinished(folder, fingerprint):
    folder.mkdir(parents=True)
    (folder / FINGERPRINT).write_text(json.dumps(fingerprint))
    (folder / LAST).write_bytes(b"state")


def test_a_fresh_run_records_its_fingerprint(tmp_path):
    assert resume_path(tmp_path / "ckpt", {"a": 1}) is None
    assert json.loads((tmp_path / "ckpt" / FINGERPRINT).read_text()) == {"a": 1}


def test_an_unfinished_run_with_the_same_inputs_resumes(tmp_path):
    _unfinished(tmp_path / "ckpt", {"a": 1})
    assert resume_path(tmp_path / "ckpt", {"a": 1}) == tmp_path / "ckpt" / LAST


def test_other_inputs_start_afresh_and_clear_old_checkpoints(tmp_path):
    _unfinished(tmp_path / "ckpt", {"a": 1})
    assert resume_path(tmp_path / "ckpt", {"a": 2}) is None
    assert not (tmp_path / "ckpt" / LAST).exists()


def test_a_finished_run_starts_afresh(tmp_path):
    _unfinished(tmp_path / "ckpt", {"a": 1})
    (tmp_path / "ckpt" / COMPLETE).touch()
    assert resume_path(tmp_path / "ckpt", {"a": 1}) is None


def test_an_interrupted_checkpoint_write_leaves_the_previous_one_intact(tmp_path, monkeypatch):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"epoch": 1, "weights": torch.ones(3)}, path)

    def killed_midway(checkpoint, target, *args, **kwargs):
        with open(target, "wb") as handle:
            handle.write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr("lightning.fabric.plugins.io.torch_io._atomic_save", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"epoch": 2, "weights": torch.zeros(3)}, path)
    assert torch.load(path, weights_only=True)["epoch"] == 1
