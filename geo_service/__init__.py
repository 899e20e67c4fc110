"""geo_service: forest encroachment, wildfire hotspots and anti-corruption cases on PostGIS."""

__version__ = "0.1.0"
