"""Teams' 429 answers are read with the one ``Retry-After`` parser: HTTP dates included."""

from __future__ import annotations

import email.utils
import time
from types import SimpleNamespace

from bot.adapters.teams.delivery import _status_and_retry_after


def test_a_teams_retry_after_given_as_an_http_date_is_honoured() -> None:
    when = email.utils.formatdate(time.time() + 5, usegmt=True)
    error = Exception("throttled")
    error.response = SimpleNamespace(status=429, headers={"Retry-After": when})  # type: ignore[attr-defined]
    status, wait = _status_and_retry_after(error, time.time())
    assert status == 429
    assert wait is not None and 3.0 < wait <= 5.0


def test_a_teams_retry_after_in_seconds_is_honoured() -> None:
    error = Exception("throttled")
    error.response = SimpleNamespace(status=429, headers={"Retry-After": "2"})  # type: ignore[attr-defined]
    assert _status_and_retry_after(error, time.time()) == (429, 2.0)
