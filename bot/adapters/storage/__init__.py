"""Stores implementing :class:`bot.services.store.Store`."""
