"""The cases store: the only module (with ``cases.access`` for the access rule) that names the case tables in SQL.

Functions run in the caller's transaction and never commit (README, Layout).
"""
