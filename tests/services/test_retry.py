"""The one retry policy: its waits, pinned by an injected random draw, and its three users.

CRM calls, the write-back outbox and Teams sends all wait by ``bot.services.retry``; the
Teams pacer is driven here on a virtual clock (no sleeping) through 429 answers.
"""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.adapters.crm.http import ResilientHttp
from bot.adapters.teams.delivery import Pacer
from bot.services import retry
from bot.services.retry import CRM_CALLS, TEAMS_SENDS, WRITEBACK, RetryPolicy
from bot.services.writeback import WritebackWorker
from bot.settings import Settings
from tests.crm.conftest import VirtualTime

POLICY = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=8.0, max_retry_after=30.0)


def draw(value: float) -> retry.Random:
    return lambda: value


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    full = [POLICY.backoff(n, draw(1.0)) for n in range(1, 7)]
    assert full == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_equal_jitter_waits_at_least_half_the_step() -> None:
    assert [POLICY.backoff(n, draw(0.0)) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert POLICY.backoff(3, draw(0.5)) == 3.0  # half of 4, plus half of the other half


def test_backoff_stays_at_the_cap_however_many_failures() -> None:
    """A write-back waiting for a tenant's consent counts its refusals without end (they
    cost no attempt): weeks of hourly refusals still wait the cap, not an overflow."""
    assert POLICY.backoff(1025, draw(1.0)) == 8.0
    assert WRITEBACK.backoff(10_000, draw(0.0)) == WRITEBACK.max_delay / 2


def test_delay_without_retry_after_is_the_backoff() -> None:
    assert POLICY.delay(2, None, draw(0.25)) == POLICY.backoff(2, draw(0.25)) == 1.25


def test_retry_after_is_waited_with_a_small_spread() -> None:
    assert POLICY.delay(1, 7.0, draw(0.0)) == 7.0  # wins over the backoff, however early
    assert POLICY.delay(6, 0.0, draw(0.0)) == 0.0  # "now" means now, not the backoff
    assert POLICY.delay(1, 7.0, draw(0.5)) == 7.5  # up to min(1 s, base_delay) more
    quick = RetryPolicy(base_delay=0.2)
    assert quick.delay(1, 3.0, draw(0.5)) == pytest.approx(3.1)


def test_retry_after_longer_than_the_cap() -> None:
    assert POLICY.honours(30.0) and not POLICY.honours(30.5)
    assert POLICY.delay(1, 3600.0, draw(0.0)) == 30.0  # whoever waits, waits the cap


def test_attempts_are_counted_with_the_first_one() -> None:
    assert not POLICY.exhausted(4)
    assert POLICY.exhausted(5) and POLICY.exhausted(6)


def test_each_user_has_its_figures() -> None:
    assert CRM_CALLS.max_retry_after < WRITEBACK.max_retry_after
    assert TEAMS_SENDS.max_retry_after <= 10.0  # a send waits inside a webhook or a click
    assert WRITEBACK.max_delay == 3600.0  # an outbox item waits up to an hour between tries


def test_a_write_back_outlasts_a_crm_maintenance_window() -> None:
    """With the server's default attempts, even the shortest jittered waits add up to over
    six hours before an item is parked (the longest to about thirteen)."""
    attempts = Settings(_env_file=None).writeback_max_attempts  # type: ignore[call-arg]
    assert attempts == WRITEBACK.max_attempts
    waits = range(1, attempts)  # after each failed attempt but the last
    shortest = sum(WRITEBACK.backoff(n, rand=lambda: 0.0) for n in waits)
    longest = sum(WRITEBACK.backoff(n, rand=lambda: 1.0) for n in waits)
    assert 6 * 3600 < shortest < longest < 14 * 3600


def test_the_three_users_wait_by_this_policy() -> None:
    http = ResilientHttp(SimpleNamespace(), name="CRM")  # type: ignore[arg-type]
    assert http.policy is CRM_CALLS
    assert WritebackWorker(SimpleNamespace()).policy is WRITEBACK  # type: ignore[arg-type]
    assert Pacer().policy is TEAMS_SENDS


def test_no_other_module_defines_a_retry_policy_or_a_backoff() -> None:
    package = Path(retry.__file__).resolve().parents[1]
    home = Path(retry.__file__).resolve()
    found = [
        f"{path.relative_to(package)}: {node.name}"
        for path in package.rglob("*.py")
        if path.resolve() != home
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef | ast.FunctionDef)
        and ("retrypolicy" in node.name.lower() or "backoff" in node.name.lower())
    ]
    # The Azure SDK's storage retry asks its subclass for each wait by this name; the
    # store's answers with RetryPolicy.backoff (tests/storage/test_blob_costs.py pins it).
    assert found == ["adapters/storage/blob.py: get_backoff_time"]


class Throttled(Exception):
    def __init__(self, status: int, retry_after: str | None = None) -> None:
        super().__init__(f"HTTP {status}")
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.response = SimpleNamespace(status=status, headers=headers)


class Teams:
    """A conversation answering a scripted list of errors, then the activity id."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def send(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "activity-1"


@pytest.fixture
def vtime() -> VirtualTime:
    return VirtualTime()


def pacer(vtime: VirtualTime, interval: float = 0.0) -> Pacer:
    return Pacer(
        interval,
        clock=vtime.clock,
        wall_clock=lambda: 1_700_000_000.0,
        sleep=vtime.sleep,
        rand=draw(0.5),
    )


async def test_a_teams_429_is_retried_after_its_retry_after(vtime: VirtualTime) -> None:
    teams = Teams(Throttled(429, "3"), Throttled(429, "Tue, 14 Nov 2023 22:13:25 GMT"))
    assert await pacer(vtime).run("conv", teams.send) == "activity-1"
    assert teams.calls == 3
    # 3 s, then the HTTP date 5 s after the wall clock; each plus 0.5 of min(1 s, 1 s)
    assert vtime.sleeps == [3.5, 5.5]


async def test_a_teams_429_without_retry_after_backs_off(vtime: VirtualTime) -> None:
    teams = Teams(Throttled(429), Throttled(429), Throttled(429))
    assert await pacer(vtime).run("conv", teams.send) == "activity-1"
    assert vtime.sleeps == [0.75, 1.5, 3.0]  # TEAMS_SENDS: base 1 s, equal jitter


async def test_teams_sends_give_up_after_the_policys_attempts(vtime: VirtualTime) -> None:
    teams = Teams(*[Throttled(429, "1")] * TEAMS_SENDS.max_attempts)
    with pytest.raises(Throttled):
        await pacer(vtime).run("conv", teams.send)
    assert teams.calls == TEAMS_SENDS.max_attempts
    assert len(vtime.sleeps) == TEAMS_SENDS.max_attempts - 1


async def test_a_teams_retry_after_longer_than_a_send_may_wait_gives_up(
    vtime: VirtualTime,
) -> None:
    teams = Teams(Throttled(429, str(TEAMS_SENDS.max_retry_after + 50)))
    with pytest.raises(Throttled):
        await pacer(vtime).run("conv", teams.send)
    assert teams.calls == 1 and vtime.sleeps == []  # never back before Teams said


async def test_other_teams_errors_are_not_retried(vtime: VirtualTime) -> None:
    teams = Teams(Throttled(403))
    with pytest.raises(Throttled):
        await pacer(vtime).run("conv", teams.send)
    assert teams.calls == 1 and vtime.sleeps == []


async def test_sends_to_one_conversation_are_spaced_on_the_clock(vtime: VirtualTime) -> None:
    paced = pacer(vtime, interval=0.25)
    for _ in range(3):
        await paced.run("conv", Teams().send)
    await paced.run("another", Teams().send)
    assert vtime.sleeps == [0.25, 0.25]  # the other conversation does not wait
