"""Printable reports: the committee brief, and the PDF renderer shared with the case evidence pack."""
