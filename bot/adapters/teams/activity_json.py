"""The SDK's ``Activity`` from and to JSON, about ten times faster than msrest.

msrest's generic ``Deserializer`` walks every attribute of every nested model through a
dozen layers of indirection: a tenth of a whole card-click turn. This reader does the
same mapping from each model's ``_attribute_map``, compiled once per model class, and
hands anything unusual (times without an offset, unknown types) back to msrest, so the
result is the same object msrest builds, unknown keys kept in ``additional_properties``
included.

Its ``Serializer`` is worse on the way out: it walks every value of an ``object``
attribute, so a customer card's whole Adaptive Card JSON, key by key (a third of the
CPU of sending a card). :func:`activity_to_json` maps the model attributes the same way
and leaves ``object`` values (cards, channel data) as they are for orjson to write; a
customer card goes out as the bytes it was measured as when rendered (:func:`json_value`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any, TypeVar

import orjson
from botbuilder import schema
from botbuilder.schema import Activity
from msrest.serialization import Deserializer, Model

from bot.adaptive_cards.customer_card import RenderedCard

_MODELS: dict[str, Any] = {  # msrest model classes by name
    name: cls
    for name, cls in vars(schema).items()
    if isinstance(cls, type) and issubclass(cls, Model)
}
M = TypeVar("M", bound=Model)
_msrest: Any = Deserializer(_MODELS)  # type: ignore[no-untyped-call]
_PLAIN: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "bool": bool,
    "int": int,
    "float": (float, int),
    "object": object,
}

Reader = Callable[[Any], Any]


def _reader(data_type: str) -> Reader:
    """How one attribute's JSON value becomes its Python value."""
    if data_type in _MODELS:
        return lambda value: _model(_MODELS[data_type], value)
    if data_type.startswith("[") and data_type[1:-1] in _MODELS:
        item = _MODELS[data_type[1:-1]]
        return lambda value: (
            [_model(item, v) for v in value]
            if isinstance(value, list)
            else (_msrest.deserialize_data(value, data_type))
        )
    if data_type == "iso-8601":
        return _timestamp
    plain = _PLAIN.get(data_type)
    if plain is not None:
        return lambda value: (
            value if isinstance(value, plain) else (_msrest.deserialize_data(value, data_type))
        )
    return lambda value: _msrest.deserialize_data(value, data_type)


def _timestamp(value: Any) -> Any:
    """An ISO 8601 time as msrest reads it (isodate, fractions past microseconds cut), by
    the standard library's parser when the time has its offset (what Teams sends)."""
    if isinstance(value, str) and "T" in value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    return _msrest.deserialize_data(value, "iso-8601")


Layout = dict[str, tuple[str, Reader]]
"""A model's JSON keys, each with the attribute it fills and how its value is read."""


@cache
def _layout(cls: Any) -> Layout | None:
    """The model's fields by JSON key, with their readers; None for models msrest must read
    itself (flattened keys, read-only or constant attributes, a key two attributes share)."""
    specs = cls._attribute_map
    if any("." in spec["key"] for spec in specs.values()) or getattr(cls, "_validation", None):
        return None
    fields = [  # "" marks additional_properties itself
        (spec["key"], attr, spec["type"]) for attr, spec in specs.items() if spec["key"]
    ]
    layout = {key: (attr, _reader(data_type)) for key, attr, data_type in fields}
    return layout if len(layout) == len(fields) else None


def _model(cls: Any, data: Any) -> Any:
    layout = _layout(cls)
    if layout is None or not isinstance(data, dict):
        return _msrest.deserialize_data(data, cls.__name__)
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():  # the few keys sent, not the model's forty attributes
        field = layout.get(key)
        if field is None:
            extra[key] = value
        elif value is not None:
            attr, read = field
            kwargs[attr] = read(value)
    instance = cls(**kwargs)
    if extra:
        instance.additional_properties = extra
    return instance


def model_from_json(cls: type[M], data: Any) -> M:
    model: M = _model(cls, data)
    return model


def activity_from_json(body: dict[str, Any]) -> Activity:
    activity: Activity = _model(Activity, body)
    return activity


Writer = Callable[[Any], Any]


def _writer(data_type: str) -> Writer:
    """How one attribute's Python value becomes its JSON value."""
    if data_type in _MODELS or data_type == "object":
        return json_value
    if data_type.startswith("[") and data_type.endswith("]"):
        return lambda value: [json_value(item) for item in value]
    if data_type.startswith("{") and data_type.endswith("}"):
        return lambda value: {key: json_value(item) for key, item in value.items()}
    return json_value


@cache
def _write_layout(cls: Any) -> tuple[tuple[str, str, Writer], ...]:
    return tuple(
        (attr, spec["key"], _writer(spec["type"]))
        for attr, spec in cls._attribute_map.items()
        if spec["key"]
    )


def json_value(value: Any) -> Any:
    """Models become dicts, a rendered customer card the JSON its size was checked on (not
    serialized a second time); everything else is left for orjson (datetimes, enums,
    dicts)."""
    if isinstance(value, Model):
        return model_to_json(value)
    if isinstance(value, RenderedCard):
        return orjson.Fragment(value.encoded)
    if isinstance(value, list):
        return [json_value(item) for item in value]
    return value


def model_to_json(model: Model) -> dict[str, Any]:
    """What msrest's ``Serializer.body`` makes of ``model``, without walking plain values."""
    data: dict[str, Any] = {}
    if "additional_properties" in type(model)._attribute_map:  # as msrest: only if mapped
        data.update(getattr(model, "additional_properties", None) or {})
    layout: Any = type(model)  # msrest's Model class is hashable; its stubs say otherwise
    for attr, key, write in _write_layout(layout):
        value = getattr(model, attr, None)
        if value is not None:
            data[key] = write(value)
    return data


def activity_to_json(activity: Activity) -> dict[str, Any]:
    return model_to_json(activity)


def _unknown(value: Any) -> Any:
    if isinstance(value, Model):
        return model_to_json(value)
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(data: Any) -> bytes:
    """orjson, with naive datetimes as UTC (as msrest writes them) and stray models."""
    return orjson.dumps(data, default=_unknown, option=orjson.OPT_NAIVE_UTC)
