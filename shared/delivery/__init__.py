"""One blob from trigger to outcome: the pipeline (``pipeline``), what it read (``source``), the per-iModel
delivery record (``record``), the crash-safe moves (``archive``, ``deadletter``), the host glue and the log line.

May import the settings, the edges, imaging and the core; never the operator commands
(:mod:`shared.ops`) or the dev kit.
"""
