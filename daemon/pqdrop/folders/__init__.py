"""The inbox's own folders: claiming an item into `processing/` (`claim`), filing it into
`sent/`, `scheduled/`, `canceled/` or `failed/` with its status file (`filing`), and the start-up
sweep that reconciles both with the journal (`recovery`).

Imports the ground, `inbox`, `sidecar` and `journal`; never the network.
"""
