"""Batch work on Dask (issue 18): backfills and national recomputation, resumable, from the command line.

The service's online paths stay on PostgreSQL. A batch job splits its input into parts (a GeoParquet file, a
space-time block), runs one Dask task per part with the service's own kernels (``places.Gazetteer``,
``hotspots.events.cluster``), and writes each part's results together with its done mark in one transaction
(``batch.store``), so a killed job restarts where it stopped.
"""
