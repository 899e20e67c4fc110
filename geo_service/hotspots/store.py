"""The hotspots store: reads and writes of detections, ingest batches and fire events.

With ``hotspots.ingest`` (the COPY fast path) and ``hotspots.events`` (event clustering in SQL) it is the only
code that names these tables in SQL; other domains call its functions. They run in the caller's transaction and
never commit (README, Layout).
"""
