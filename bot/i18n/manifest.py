"""The Teams app manifest in German and French: its ``localizationInfo`` files.

The manifest template's names, descriptions, tab names, bot commands and the message
extension's search command are message ids
of the same catalogues as the cards; the package build writes the file of each language
its ``localizationInfo`` names (``de.json``, ``fr.json``), following Microsoft's
localization schema.
"""

from __future__ import annotations

from typing import Any

from bot.i18n.catalogues import translations


def localizable(manifest: dict[str, Any]) -> dict[str, str]:
    """Localization key (``name.short``, ``staticTabs[0].name``...) -> English text."""
    found = {
        f"{part}.{size}": manifest[part][size]
        for part in ("name", "description")
        for size in ("short", "full")
        if manifest.get(part, {}).get(size)
    }
    for index, tab in enumerate(manifest.get("staticTabs", [])):
        if tab.get("name"):
            found[f"staticTabs[{index}].name"] = tab["name"]
    for bot_index, bot in enumerate(manifest.get("bots", [])[:1]):
        for list_index, commands in enumerate(bot.get("commandLists", [])):
            for index, command in enumerate(commands.get("commands", [])):
                for field in ("title", "description"):
                    key = f"bots[{bot_index}].commandLists[{list_index}].commands[{index}].{field}"
                    found[key] = command[field]
    for index, command in enumerate(manifest.get("composeExtensions", [{}])[0].get("commands", [])):
        prefix = f"composeExtensions[0].commands[{index}]"
        for field in ("title", "description"):
            if command.get(field):
                found[f"{prefix}.{field}"] = command[field]
        for number, parameter in enumerate(command.get("parameters", [])):
            for field in ("title", "description"):
                if parameter.get(field):
                    found[f"{prefix}.parameters[{number}].{field}"] = parameter[field]
    return found


def localization_file(manifest: dict[str, Any], language: str, schema_url: str) -> dict[str, Any]:
    """The manifest's texts in ``language`` (a ``localizationInfo`` file)."""
    gettext = translations(language).gettext
    texts = {key: gettext(value) for key, value in localizable(manifest).items()}
    return {"$schema": schema_url, **texts}
