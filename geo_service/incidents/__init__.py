"""Field incidents: logging with coordinates and photos, automatic attribution, bulk import."""
