"""Accepted posts: following them to their end (`tracker`), carrying out edits of the schedule
(`editor`), SCHEDULE.md (`agenda`), and telling someone (`notify`).

Imports `posting` and everything below it; never `service` or `commands`.
"""
