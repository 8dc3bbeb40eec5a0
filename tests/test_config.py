import pytest
from pydantic import ValidationError

from dpiqa.config import Params, load_params
from dpiqa.data.cards import cards

from .conftest import REPO, deep_update


def test_the_committed_params_load():
    params = load_params(REPO / "params.yaml")
    assert params.base.dataset in params.data.datasets


def test_every_card_has_a_source_section_and_vice_versa(raw_params):
    assert set(cards()) == set(raw_params["data"]["sources"])


def test_a_typo_in_params_is_an_error(raw_params):
    with pytest.raises(ValidationError, match="test_fractoin"):
        Params.model_validate(deep_update(raw_params, {"split": {"test_fractoin": 0.3}}))


def test_a_reversed_folder_range_is_an_error(raw_params):
    bad = deep_update(raw_params, {"data": {"sources": {"folder": {"mos_range": [5, 1]}}}})
    with pytest.raises(ValidationError, match="min < max"):
        Params.model_validate(bad)


def test_mos_ranges_come_from_the_cards():
    for card in cards().values():
        assert card.mos_range is None or card.mos_range[0] < card.mos_range[1]
