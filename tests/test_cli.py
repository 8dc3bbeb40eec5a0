from dpiqa.cli import main


def test_datasets_lists_every_card(capsys):
    main(["datasets"])
    out = capsys.readouterr().out
    for key in ("embedded", "koniq10k", "kadid10k", "clive", "spaq", "agiqa3k", "livefb", "folder"):
        assert key in out
    assert "10073" in out
