"""The running manager: per-block tick (read -> check -> decide -> plan -> execute -> record -> alert),
the scheduler that drives it, and the start/stop life cycle.

- ``strategies``: load every position's strategy by name and validate its params (file:line errors).
- ``loop``: ``Runtime.tick()`` - one tick over every position; one position's failure never stops others.
- ``scheduler``: APScheduler jobs (new-block tick, heartbeat, daily cap roll-over, history compaction).
- ``lifecycle``: build everything from a config (``build_runtime``) and run until SIGINT/SIGTERM.
"""
