"""Open data and the public transparency page (issue 17): what the public may see, counts only where a record
could name a person, a DCAT catalogue and CSV/GeoJSON downloads."""
