"""Seeded simulation of national data: administrative boundaries and a multi-year FIRMS detection archive.

``boundaries.simulate_boundaries`` partitions Thailand's outline into nested provinces, districts and
subdistricts (plus optional protected areas); ``detections.simulate_detections`` generates FIRMS rows with
Thai fire seasons. Both are deterministic per seed, for benchmarks (national scale) and tests (scaled down).
"""
