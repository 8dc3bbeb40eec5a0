import json

from dpiqa.train.fit import COMPLETE, FINGERPRINT, LAST, resume_path


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
