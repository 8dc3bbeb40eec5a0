import pytest

from dpiqa import hardware


@pytest.mark.parametrize("native, expected", [(True, "bf16-mixed"), (False, "32-true")])
def test_auto_precision_on_a_cpu_uses_bf16_only_where_the_cpu_has_it(monkeypatch, native, expected):
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: native)
    assert hardware.resolve_precision("auto", "cpu") == expected


@pytest.mark.parametrize("native, expected", [(True, "bf16-mixed"), (False, "16-mixed")])
def test_auto_precision_on_a_gpu_falls_back_to_fp16_autocast(monkeypatch, native, expected):
    monkeypatch.setattr(hardware, "gpu_has_bf16", lambda: native)
    assert hardware.resolve_precision("auto", "gpu") == expected


def test_an_explicit_precision_is_kept_whatever_the_hardware(monkeypatch):
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)
    assert hardware.resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"


def test_the_trainer_reads_auto_for_the_paper_profile_on_a_cpu(make_params, monkeypatch):
    """sd15 on a CPU: bf16 autocast only where it is native (emulated bf16 ran slower than fp32)."""
    params = make_params({"train": {"accelerator": "cpu"}})
    assert params.train.precision["sd15"]["cpu"] == "auto"
    for native, expected in ((True, "bf16-mixed"), (False, "32-true")):
        monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda native=native: native)
        assert params.train.trainer_precision("sd15") == expected
    assert params.train.trainer_precision("tiny") == "32-true"
