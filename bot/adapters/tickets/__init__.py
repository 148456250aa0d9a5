"""The ticket archive's engines: embedded SQLite FTS5 and PostgreSQL full-text search."""
