"""The aiohttp application: app factory and thin HTTP routes."""
