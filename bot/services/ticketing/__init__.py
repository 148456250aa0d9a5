"""Ticketing: the archive of imported tickets and agents, its sync and its search."""
