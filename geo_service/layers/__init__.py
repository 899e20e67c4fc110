"""Reference layers: administrative boundaries and protected areas (read, check, store, serve)."""
