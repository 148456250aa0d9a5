"""The routing rules alone: first match wins, operators, defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.domain.records import CrmRecord, RecordRef
from bot.domain.routing import Condition, RoutingConfig, RoutingRule, route


def record(record_type: str, **fields: str) -> CrmRecord:
    return CrmRecord(ref=RecordRef(crm="x", type=record_type, id="1"), title="t", fields=fields)


def rule(name: str, queue: str, *when: dict[str, object]) -> RoutingRule:
    return RoutingRule(name=name, queue=queue, when=[Condition.model_validate(w) for w in when])


def test_first_matching_rule_wins_else_default() -> None:
    config = RoutingConfig(
        rules=[
            rule("detractors", "Retention", {"field": "nps", "op": "between", "max": 6}),
            rule("german", "DE", {"field": "contact.language", "value": "german"}),
            rule("any", "Catch-all"),
        ],
        default_queue="General",
    )
    assert route(config, [record("contact", nps="3", language="German")]).queue == "Retention"
    assert route(config, [record("contact", nps="9", language="German")]).queue == "DE"
    assert route(config, [record("account", language="German")]).queue == "Catch-all"
    assert route(config, []).queue == "General"  # nobody identified: the default


def test_operators() -> None:
    products = record("account", products="Router; Modem, TV", priority="true")
    assert Condition(field="products", op="contains", value="modem").holds(products)
    assert not Condition(field="products", op="contains", value="mod").holds(products)
    assert Condition(field="priority", op="exists").holds(products)
    assert Condition(field="tier", op="notEquals", value="Gold").holds(products)
    assert not Condition(field="nps", op="between", min=0, max=6).holds(record("c", nps="x"))


def test_skills_are_limited_to_five_named_ones() -> None:
    with pytest.raises(ValidationError):
        RoutingRule(name="r", queue="q", skills=["a", "b", "c", "d", "e", "f"])
    with pytest.raises(ValidationError):
        RoutingConfig(default_skills=[""])
    with pytest.raises(ValidationError):
        Condition(field="tier", op="in")
    assert RoutingRule(name="r", queue="q", skills=[" a ", "a", "b"]).skills == ["a", "b"]


def test_a_not_equals_rule_never_routes_a_caller_whose_record_has_the_value() -> None:
    """The caller's contact has no tier of its own: the Platinum account still decides."""
    config = RoutingConfig(
        rules=[
            rule("standard", "Standard", "account.tier != Platinum"),
            rule("not gold", "Silver desk", "tier != Gold"),
        ],
        default_queue="Premium",
    )
    platinum = [record("contact", language="German"), record("account", tier="Platinum")]
    assert route(config, platinum).queue == "Silver desk"
    gold = [record("contact"), record("account", tier="Gold")]
    assert route(config, gold).queue == "Standard"
    both = [record("account", tier="Gold"), record("account", tier="Platinum")]
    assert route(config, both).queue == "Premium"
    assert route(config, [record("contact")]).queue == "Standard"  # no account: not Platinum
