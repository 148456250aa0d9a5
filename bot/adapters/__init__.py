"""The outside world: storage, CRMs and Teams, each behind a port of ``bot.services``."""
