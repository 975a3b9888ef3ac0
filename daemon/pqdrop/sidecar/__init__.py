"""The Markdown sidecar: its YAML read strictly (`loader`), mangled punctuation refused
(`punctuation`), the validated `Sidecar` (`parse`) with its problems gathered (`problems`) and its time
(`times`), and what a changed sidecar asks for (`changes`).

Imports the ground and `platforms`; never the journal, the folders or the network.
"""
