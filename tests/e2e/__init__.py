"""End-to-end tests: the real bot process driven through the Agents Playground in Chromium."""
