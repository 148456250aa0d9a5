"""The fast activity reader builds exactly what msrest builds."""

from __future__ import annotations

from typing import Any

import pytest
from botbuilder.schema import Activity, TokenExchangeState
from msrest.serialization import Deserializer

from bot.adapters.teams import activity_json
from bot.adapters.teams.activity_json import activity_from_json
from tests import activities

URL = "https://smba.trafficmanager.net/amer/"


def _mention_message() -> dict[str, Any]:
    body = activities.message(URL, "<at>crmcard</at> call +1 555 0100")
    body["entities"] = [
        {
            "type": "mention",
            "text": "<at>crmcard</at>",
            "mentioned": {"id": activities.BOT_ID, "name": "crmcard"},
        },
        {"type": "clientInfo", "locale": "en-US", "country": "US", "platform": "Web"},
    ]
    body["timestamp"] = "2026-11-23T08:00:00.1234567Z"  # Teams sends 7 fractional digits
    body["localTimestamp"] = "2026-11-23T09:00:00.123+01:00"
    body["attachments"] = [{"contentType": "text/html", "content": "<p>hi</p>"}]
    body["unknownTopLevel"] = {"kept": True}
    body["replyToId"] = body["unknownButNull"] = None
    return body


SAMPLES = [
    activities.card_action(URL, "link", {"interactionId": "i", "rev": 3, "record": "r"}),
    activities.installed(URL),
    activities.activity(
        URL, "conversationUpdate", membersAdded=[{"id": "29:a", "aadObjectId": "x"}, {"id": "28:b"}]
    ),
    _mention_message(),
]


@pytest.mark.parametrize("body", SAMPLES, ids=lambda b: b["type"])
def test_same_activity_as_msrest(body: dict[str, Any]) -> None:
    fast = activity_from_json(body)
    slow = Activity().deserialize(body)
    assert fast.serialize() == slow.serialize()
    assert fast.as_dict() == slow.as_dict()
    assert fast.timestamp == slow.timestamp
    assert fast.additional_properties == slow.additional_properties
    for ours, theirs in zip(fast.entities or [], slow.entities or [], strict=True):
        assert ours.additional_properties == theirs.additional_properties


def test_a_teams_time_is_read_without_msrest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every activity carries its time: msrest's isodate reader was most of reading one."""
    asked: list[str] = []
    slow = activity_json._msrest.deserialize_data

    def counted(value: Any, data_type: str) -> Any:
        asked.append(data_type)
        return slow(value, data_type)

    monkeypatch.setattr(activity_json._msrest, "deserialize_data", counted)
    body = _mention_message()  # seven fractional digits and an offset, as Teams sends them
    fast = activity_from_json(body)
    assert asked == []
    assert fast.timestamp == Activity().deserialize(body).timestamp
    assert fast.local_timestamp.utcoffset().total_seconds() == 3600


def test_a_key_two_attributes_share_is_read_as_msrest_reads_it() -> None:
    """The SDK maps ``connectionName`` to two attributes of ``TokenExchangeState``: msrest
    fills both, so that model is left to msrest."""
    data = {"connectionName": "crm", "msAppId": "app", "extra": 1}
    fast = activity_json.model_from_json(TokenExchangeState, data)
    slow = Deserializer(activity_json._MODELS)("TokenExchangeState", data)
    assert fast.as_dict() == slow.as_dict()
    assert (fast.connection_name, fast.bot_url) == ("crm", "crm")
