"""Durable state, the only package that imports `sqlite3`: the item journal (`store`) and the
edits of the schedule (`edits`), both written ahead of every step.

Imports the ground only.
"""
