"""One blob from trigger to outcome: the pipeline, the crash-safe moves, the host glue and the log line.

May import the settings, the edges, imaging and the core; never the operator commands
(:mod:`shared.ops`) or the dev kit.
"""
