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
