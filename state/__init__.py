"""SQLite state: the sqlmodel tables and the store, the only code that touches SQL."""
