"""Every setting is in the README's configuration table under the name it is read by."""

from pathlib import Path

from bot.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_documented() -> None:
    text = README.read_text()
    undocumented = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names = list(alias.choices) if alias is not None else [f"CRMCARD_{name.upper()}"]  # type: ignore[union-attr]
        if not any(f"`{n}`" in text for n in names if isinstance(n, str)):
            undocumented.append(names[0])
    assert undocumented == []
