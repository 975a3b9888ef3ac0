"""The daemon: the loop with `once` beside `run` (`workers`), the signals, reloads and stop that
steer it (`daemon`), and systemd's notify protocol and watchdog (`systemd`).

Imports everything below it; never `commands`.
"""
