"""Intake: which files in the inbox form an item and when an item is ready to be posted.

`items` plans items from a scan, `arrival` remembers what held still, `formats` and `synctools`
name what is media and what a sync tool is still writing, `watcher` turns filesystem events into
hints. Imports the ground and `media`; never calls the API and never writes the journal.
"""
