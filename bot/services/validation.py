"""Input validation errors as data a caller can act on: where, and what is wrong."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError


def validation_details(error: ValidationError) -> list[dict[str, Any]]:
    """pydantic's errors without echoing the input back (it may hold secrets)."""
    details: list[dict[str, Any]] = json.loads(
        error.json(include_url=False, include_context=False, include_input=False)
    )
    return details
