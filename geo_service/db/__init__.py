"""Database: engine and sessions, ORM models, migrations and the embedded PostGIS runner."""
