"""The hotspots store: reads and writes of detections, ingest batches and fire events.

With ``hotspots.ingest`` (the COPY fast path) and ``hotspots.events`` (event clustering in SQL) it is the only
code that names these tables in SQL; other domains call its functions. They run in the caller's transaction and
never commit (README, Layout).
"""

# --- for exports.collections ---
# Every detection as the exports and the OGC API read it, with the fire event it belongs to (if any). The
# collection adds the presentation (local time, Buddhist Era date, names).
EXPORT_HOTSPOTS_SQL = """SELECT h.id, h.geom, h.acq_utc, h.acq_date_local, h.satellite, h.instrument, h.processing,
       h.version, h.confidence, h.confidence_raw, h.frp, h.daynight, h.brightness, h.province_code, h.district_code,
       h.subdistrict_code, h.reserve_code, h.protected_area_codes, he.event_id, h.in_aoi
FROM hotspots h LEFT JOIN hotspot_events he ON he.hotspot_id = h.id"""

# Every fire event, its footprint as ``geom``.
EXPORT_FIRE_EVENTS_SQL = """SELECT e.id, e.footprint AS geom, e.first_seen, e.last_seen, e.detections, e.max_frp,
       e.sensors, e.district_code, e.reserve_code, e.area_m2
FROM fire_events e"""
