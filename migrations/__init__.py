"""Alembic migrations; tests and the CLI always run on the migrated schema."""
