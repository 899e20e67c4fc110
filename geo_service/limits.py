"""The bounds of what a request may say, in one place: dates, text fields, numbers.

Checked at the edge (request parsing, file readers); behind them, ``errors`` turns whatever PostgreSQL still
finds wrong with a value (SQLSTATE class 22: NUL in text, out of range, too long, division by zero) into a
400, never a 500.
"""

from __future__ import annotations

from datetime import date

# Dates the service works with: satellite records start in 2000, Thai land records go back a century;
# nothing plans past 2200. Year 1 and year 9999 broke date arithmetic (a day after 9999-12-31).
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2200, 12, 31)
MAX_FRP_MW = 100_000.0  # the largest FIRMS pixels are a few thousand MW
CSV_FIELD_CHARS = 10_000  # a cell of an uploaded table (a description is the longest)
