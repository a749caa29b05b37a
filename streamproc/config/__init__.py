"""Configuration: the ``STREAMPROC_*`` settings and the pipelines file (sources and sinks)."""
