"""The briefs store: the only module that names the ``briefs`` table in SQL."""
