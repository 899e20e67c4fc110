"""Command line of the detections' yearly partitions (``cli``); the SQL is in ``hotspots.partitions``."""
