"""One item's way to PostQued: read and checked (`prepare`, `preflight`, `photos`), creator info
(`creators`), posting slots and daily caps (`slots`, `pacing`), what a post sends (`publish`), and
the step-by-step run through all of them (`pipeline`).

Imports everything below it; never `schedule`, `service` or `commands`.
"""
