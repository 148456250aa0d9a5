from typing import Any

import pytest

from bot.adaptive_cards.template import TemplateError, render


def test_data_repeats_and_when_filters() -> None:
    template = {
        "body": [
            {
                "$data": "${items}",
                "$when": "${show}",
                "type": "TextBlock",
                "text": "${name} #${$index}",
            }
        ]
    }
    data = {
        "items": [
            {"name": "a", "show": True},
            {"name": "b", "show": False},
            {"name": "c", "show": True},
        ]
    }
    assert render(template, data) == {
        "body": [{"type": "TextBlock", "text": "a #0"}, {"type": "TextBlock", "text": "c #2"}]
    }


def test_whole_expression_keeps_json_type_and_root_is_reachable() -> None:
    template = {
        "rows": [{"$data": "${rows}", "data": {"id": "${id}", "rev": "${$root.rev}"}}],
        "userIds": "${users}",
    }
    out = render(template, {"rows": [{"id": 7}], "rev": 3, "users": ["29:x"]})
    assert out == {"rows": [{"data": {"id": 7, "rev": 3}}], "userIds": ["29:x"]}


def test_negated_when() -> None:
    assert render([{"$when": "${!empty}", "x": 1}], {"empty": []}) == [{"x": 1}]


def test_unknown_data_is_an_error_not_an_empty_card() -> None:
    with pytest.raises(TemplateError, match="nmae"):
        render({"text": "${nmae}"}, {"name": "x"})


@pytest.mark.parametrize(
    ("template", "data"),
    [
        ({"text": "${a.b}"}, {"a": {"c": 1}}),  # a missing key one level down
        ({"text": "${a.b}"}, {"a": "text"}),  # a path through a string
        ({"text": "x ${a.b} y"}, {"a": [1, 2]}),  # through a list, inside a string
        ([{"$when": "${a.b}", "x": 1}], {"a": None}),  # in a $when
        ({"$data": "${items}", "x": "${n.m}"}, {"items": [{"n": 3}]}),  # in a repeat
    ],
)
def test_a_missing_path_anywhere_names_the_path(template: Any, data: Any) -> None:
    """The card is rendered by plain lookups; when one fails, the checked rendering says
    which path the data lacks (never a KeyError or TypeError)."""
    with pytest.raises(TemplateError, match=r"'(a\.b|n\.m)'"):
        render(template if isinstance(template, list) else [template], data)


def test_interpolation_keeps_literal_braces() -> None:
    out = render({"text": "{x} ${a} and ${b} {}"}, {"a": 1, "b": True})
    assert out == {"text": "{x} 1 and True {}"}


def test_nested_repeats_objects_and_a_repeated_value() -> None:
    template = {
        "rows": [
            {
                "$data": "${groups}",
                "items": [
                    {"$data": "${items}", "text": "${$root.prefix}${name} ${$index}"},
                    {"$data": "${one}", "text": "only ${name}"},  # an object: itself, once
                ],
                "first": {"$data": "${items}", "text": "${name}"},  # a value: the first item
            }
        ],
        "fixed": [1, "two", None, True],
    }
    data = {
        "prefix": "#",
        "groups": [
            {"items": [{"name": "a"}, {"name": "b"}], "one": {"name": "o"}},
            {"items": [], "one": {"name": "p"}},
        ],
    }
    assert render(template, data) == {
        "rows": [
            {
                "items": [{"text": "#a 0"}, {"text": "#b 1"}, {"text": "only o"}],
                "first": {"text": "a"},
            },
            {"items": [{"text": "only p"}]},
        ],
        "fixed": [1, "two", None, True],
    }
    first, second = render(template, data), render(template, data)
    assert first == second and first["fixed"] is not second["fixed"]  # nothing shared
