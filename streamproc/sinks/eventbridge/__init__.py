"""The EventBridge sink: one PutEvents entry per clean event (``plan.py`` pure, ``sink.py`` I/O)."""
