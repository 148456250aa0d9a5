"""Routing rules: CRM data of the identified caller -> a target queue and up to five skills.

An admin keeps an ordered list of rules; each rule's conditions all have to hold (on any
of the identified records; a ``notEquals`` on none of them has the value) and the first
rule that matches decides. No rule matching
means the default queue and skills. Pure: no I/O, so the IVR lookup, the admin API and
the tests all decide alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from pydantic import (
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    field_validator,
    model_validator,
)
from pydantic_core import CoreSchema

from bot.domain.api_model import ApiModel
from bot.domain.records import CrmRecord
from bot.i18n import t

MAX_SKILLS = 5
MAX_RULES = 200


class _Model(ApiModel):
    model_config = ConfigDict(extra="forbid")


class Op(StrEnum):
    equals = "equals"
    not_equals = "notEquals"
    in_ = "in"
    contains = "contains"
    """the field is a list ("a, b; c") holding ``value`` (products bought...)"""
    between = "between"
    """numeric ``min`` <= field <= ``max`` (NPS range...); either bound may be left out"""
    exists = "exists"


def _skills(raw: list[str]) -> list[str]:
    names = [name.strip() for name in raw]
    if any(not name for name in names):
        raise ValueError(t("skill names cannot be empty"))
    unique = list(dict.fromkeys(names))
    if len(unique) > MAX_SKILLS:
        raise ValueError(
            t("at most {most} skills, got {count}", most=MAX_SKILLS, count=len(unique))
        )
    return unique


_EXPRESSION = re.compile(
    r"^\s*(?P<field>[^\s]+)\s+(?P<op>==|=|!=|equals|notEquals|in|contains|between|exists)"
    r"(?:\s+(?P<operand>.*?))?\s*$",
    re.IGNORECASE,
)
_OPS = {"=": Op.equals, "==": Op.equals, "!=": Op.not_equals, **{op.value.lower(): op for op in Op}}


def parse_condition(text: str) -> dict[str, object]:
    """A condition written as text, the form the README shows: ``account.tier in [Gold,
    Platinum]``, ``tier = Gold``, ``tier != Bronze``, ``products contains Fiber``,
    ``nps between 0 and 6`` (or ``0..6``; ``between 9 and`` leaves out a bound),
    ``account.vip exists``. Raises ValueError naming the form expected."""
    match = _EXPRESSION.match(text)
    if match is None:
        raise ValueError(
            t(
                "write a condition as '<field> <op> <value>': in [a, b], =, !=, contains, "
                "between <min> and <max>, exists"
            )
        )
    op = _OPS[match["op"].lower()]
    operand = (match["operand"] or "").strip()
    condition: dict[str, object] = {"field": match["field"], "op": op.value}
    if op is Op.in_:
        listed = operand[1:-1] if operand.startswith("[") and operand.endswith("]") else operand
        condition["values"] = [v.strip().strip("\"'") for v in listed.split(",") if v.strip()]
    elif op is Op.between:
        parts = re.split(r"\s*\band\b\s*|\s*\.\.\s*", operand, maxsplit=1)
        bounds = [part.strip() for part in [*parts, ""][:2]]
        try:
            condition["min"], condition["max"] = (float(b) if b else None for b in bounds)
        except ValueError:
            raise ValueError(t("'between' takes numbers: between <min> and <max>")) from None
    elif op is not Op.exists:
        condition["value"] = operand.strip("\"'")
    return condition


class Condition(_Model):
    """``field`` of an identified record; ``type.field`` looks at one record type only.

    Given as an object (``{"field", "op", "value" | "values" | "min"/"max"}``) or as one
    line of text (:func:`parse_condition`)."""

    field: str = Field(min_length=1, max_length=200)
    op: Op = Op.equals
    value: str | None = Field(None, max_length=500)
    values: list[str] = Field(default_factory=list, max_length=100)
    min: float | None = None
    max: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: object) -> object:
        return parse_condition(data) if isinstance(data, str) else data

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        """Read, a condition may be one line of text too (what ``_from_text`` accepts)."""
        schema: dict[str, Any] = handler(core_schema)
        if handler.mode != "validation":
            return schema
        text = {
            "type": "string",
            "description": "one line: account.tier in [Gold, Platinum], tier = Gold, "
            "tier != Bronze, products contains Fiber, nps between 0 and 6, account.vip exists",
        }
        return {"anyOf": [dict(schema), text]}

    @model_validator(mode="after")
    def _operands(self) -> Condition:
        if self.op in (Op.equals, Op.not_equals, Op.contains) and self.value is None:
            raise ValueError(t("{op} needs a value", op=repr(self.op.value)))
        if self.op is Op.in_ and not self.values:
            raise ValueError(t("'in' needs values"))
        if self.op is Op.between and self.min is None and self.max is None:
            raise ValueError(t("'between' needs min, max or both"))
        return self

    def _field_of(self, record: CrmRecord) -> str | None:
        record_type, _, name = self.field.rpartition(".")
        if record_type and record_type.lower() != record.ref.type.lower():
            return None
        return field_value(record, name)

    def holds_for(self, records: Sequence[CrmRecord]) -> bool:
        """Whether the condition holds for the caller: on any of their records; ``notEquals``
        only when none of them (of its type) has the value, so a record without the field
        (the contact of a Platinum account) does not make ``account.tier != Platinum`` hold."""
        if self.op is Op.not_equals:
            return all(self.holds(record) for record in records)
        return any(self.holds(record) for record in records)

    def holds(self, record: CrmRecord) -> bool:
        raw = self._field_of(record)
        if self.op is Op.not_equals:
            return raw is None or raw.strip().lower() != (self.value or "").strip().lower()
        if raw is None or not raw.strip():
            return False
        value = raw.strip().lower()
        if self.op is Op.exists:
            return True
        if self.op is Op.equals:
            return value == (self.value or "").strip().lower()
        if self.op is Op.in_:
            return value in {v.strip().lower() for v in self.values}
        if self.op is Op.contains:
            items = {item.strip() for item in value.replace(";", ",").split(",")}
            return (self.value or "").strip().lower() in items
        try:
            number = float(value)
        except ValueError:
            return False
        return (self.min is None or number >= self.min) and (self.max is None or number <= self.max)


def field_value(record: CrmRecord, name: str) -> str | None:
    """A record's field by name (case-insensitive): its CRM fields, then mapped card fields."""
    wanted = name.lower()
    for source in (record.fields, record.card_fields):
        for key, value in source.items():
            if key.lower() == wanted:
                return value
    return None


class RoutingRule(_Model):
    name: str = Field(min_length=1, max_length=200)
    when: list[Condition] = Field(
        default_factory=list, max_length=20, description="all must hold; empty: always"
    )
    queue: str = Field(min_length=1, max_length=200)
    skills: list[str] = Field(default_factory=list)

    @field_validator("skills")
    @classmethod
    def _valid_skills(cls, skills: list[str]) -> list[str]:
        return _skills(skills)

    def matches(self, records: Sequence[CrmRecord]) -> bool:
        return all(c.holds_for(records) for c in self.when)


class RoutingConfig(_Model):
    """A tenant's routing: ordered rules, first match wins, else the defaults."""

    rules: list[RoutingRule] = Field(default_factory=list, max_length=MAX_RULES)
    default_queue: str = Field("General", min_length=1, max_length=200)
    default_skills: list[str] = Field(default_factory=list)
    tier_field: str = Field(
        "tier", min_length=1, max_length=200, description="the field shown as subscription level"
    )

    @field_validator("default_skills")
    @classmethod
    def _valid_skills(cls, skills: list[str]) -> list[str]:
        return _skills(skills)


class RoutingDecision(_Model):
    queue: str
    skills: list[str] = Field(default_factory=list)
    rule: str | None = Field(None, description="the rule that matched; None: the defaults")
    tier: str | None = None

    def line(self) -> str:
        """``queue · skills · tier`` for the agent's card."""
        parts = [self.queue, ", ".join(self.skills), self.tier or ""]
        return " · ".join(part for part in parts if part)


def route(config: RoutingConfig, records: Sequence[CrmRecord]) -> RoutingDecision:
    """The first rule matching the identified ``records``; the defaults if none does."""
    tier = next(
        (v for r in records if (v := field_value(r, config.tier_field)) and v.strip()), None
    )
    if records:
        for rule in config.rules:
            if rule.matches(records):
                return RoutingDecision(
                    queue=rule.queue, skills=rule.skills, rule=rule.name, tier=tier
                )
    return RoutingDecision(queue=config.default_queue, skills=config.default_skills, tier=tier)
