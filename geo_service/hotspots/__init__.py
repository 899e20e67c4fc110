"""Satellite fire hotspots: FIRMS ingest and attribution, the FIRMS area API, rasters, fire events, summaries."""

from geo_service.hotspots.attribution import register as _register

_register()  # stored hotspots follow boundary changes (geo_service.layers.store.ON_LAYERS_CHANGED)
