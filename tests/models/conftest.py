import pytest

from dpiqa.models.profiles import build_student, build_teacher


@pytest.fixture
def tiny_profile(make_params):
    return make_params().models.profiles["tiny"]


@pytest.fixture
def sd15_profile(make_params):
    return make_params().models.profiles["sd15"]


@pytest.fixture
def tiny_teacher(tiny_profile, tmp_path):
    return build_teacher(tiny_profile, tmp_path / "prompts", seed=0)


@pytest.fixture
def tiny_student(tiny_profile):
    return build_student(tiny_profile, seed=0)
