"""What a media file is, read from its bytes: its kind, size, duration and rotation (`probe`),
whether its end has arrived (`containers`), and small real files for the demo and tests (`mediagen`).

Imports only the ground (`errors`); never the inbox, the journal or the network.
"""
