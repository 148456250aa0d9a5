"""``crmcard``: the command line. One module per command group; ``main`` ties them."""

from bot.cli.main import main

__all__ = ["main"]
