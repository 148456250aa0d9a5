"""Microsoft Teams: the bot, the tab and the sideloadable app package.

Importing this package first imports jsonpickle (botbuilder-core imports it for its bot
state and telemetry middleware, which crmcard does not use) without PyYAML: jsonpickle
loads every JSON backend it can import at its own import, PyYAML among them, a fallback
it would only try on a document the standard library's ``json`` cannot read. PyYAML is
not one of crmcard's dependencies (development tools install it), so a deployed server
never has it, and a server started where it is installed imported it for nothing (some
3% of the instructions of a cold start). Anything imported later may import PyYAML as
usual.
"""

import importlib
import sys


def _import_jsonpickle_without_yaml() -> None:
    if "jsonpickle" in sys.modules or "yaml" in sys.modules:
        return  # imported already, as it is
    sys.modules["yaml"] = None  # type: ignore[assignment]  # "import yaml" raises ImportError
    try:
        importlib.import_module("jsonpickle")
    finally:
        del sys.modules["yaml"]


_import_jsonpickle_without_yaml()
