"""The routing conditions the README shows are the ones the admin API accepts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

Client = TestClient[Any, Any]
ADMIN = {"X-Admin-Key": "demo-admin-key"}
README = Path(__file__).resolve().parents[2] / "README.md"


def readme_conditions() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("one line of text:") : text.index("and a `lookupId`")]
    return re.findall(r"`([^`]+)`", section)


async def test_every_readme_condition_is_accepted_as_written(bot_client: Client) -> None:
    written = readme_conditions()
    assert "account.tier in [Gold, Platinum]" in written and len(written) == 6
    rules = {"rules": [{"name": "r", "when": written, "queue": "vip", "skills": ["en"]}]}
    put = await bot_client.put("/api/admin/routing", json=rules, headers=ADMIN)
    assert put.status == 200, await put.text()
    [rule] = (await put.json())["rules"]
    assert [(c["field"], c["op"]) for c in rule["when"]] == [
        ("account.tier", "in"),
        ("tier", "equals"),
        ("tier", "notEquals"),
        ("products", "contains"),
        ("nps", "between"),
        ("account.vip", "exists"),
    ]
    assert rule["when"][0]["values"] == ["Gold", "Platinum"]
    assert (rule["when"][4]["min"], rule["when"][4]["max"]) == (0, 6)


async def test_a_condition_that_cannot_be_read_is_422_naming_it(bot_client: Client) -> None:
    rules = {"rules": [{"name": "r", "when": ["tier", "nps between a and b"], "queue": "q"}]}
    put = await bot_client.put("/api/admin/routing", json=rules, headers=ADMIN)
    assert put.status == 422
    errors = (await put.json())["errors"]
    assert [e["loc"][-1] for e in errors] == [0, 1]  # every refused condition, by position
