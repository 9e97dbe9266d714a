"""Metadata as the Dagster UI shows it: floats to a few significant digits (0.9616, not
0.9616326530612245); what is computed with stays exact in the outputs themselves."""

import math
from collections.abc import Mapping
from typing import Any


def rounded(metadata: Mapping[str, Any], digits: int = 4) -> dict[str, Any]:
    """``metadata`` with its top-level floats rounded to ``digits`` significant digits."""
    return {key: _round(value, digits) for key, value in metadata.items()}


def _round(value: Any, digits: int) -> Any:
    if not isinstance(value, float) or not math.isfinite(value) or value == 0:
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))
