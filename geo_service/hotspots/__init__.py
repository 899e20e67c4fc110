"""Satellite fire hotspots: FIRMS ingest and attribution, the FIRMS area API, rasters, fire events, summaries."""
