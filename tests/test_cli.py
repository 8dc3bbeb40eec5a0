import pytest

from dpiqa.cli import main


def test_datasets_lists_every_card(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["datasets"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for key in ("embedded", "koniq10k", "kadid10k", "clive", "spaq", "agiqa3k", "livefb", "folder"):
        assert key in out
    assert "10073" in out


def test_scoring_without_a_champion_says_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(SystemExit) as exit_:
        main(["score", str(tmp_path / "a.png")])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "cannot load models:/dpiqa-student@champion" in err and "dpiqa promote dpiqa-student" in err
