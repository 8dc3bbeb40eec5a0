import math

import numpy as np
import pytest

from dpiqa.strict_json import dumps_json

from .strict import strict_loads


def test_non_finite_numbers_become_null_at_any_depth():
    value = {"srcc": math.nan, "ci": [np.float32(0.5), -math.inf], "nested": {"plcc": np.float64(math.inf)}}
    assert strict_loads(dumps_json(value)) == {"srcc": None, "ci": [0.5, None], "nested": {"plcc": None}}


def test_the_strict_parser_refuses_what_python_writes_by_default():
    import json

    with pytest.raises(ValueError, match="NaN is not JSON"):
        strict_loads(json.dumps({"score": math.nan}))
