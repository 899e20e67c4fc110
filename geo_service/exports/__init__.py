"""Exports for partners: RFC 7946 GeoJSON (streamed), GeoJSON sequences, GeoPackage, CSV, KML, Shapefile,
and the OGC API - Features collections, all from one registry of collections and their allowed fields."""
