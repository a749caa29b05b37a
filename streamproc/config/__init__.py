"""Configuration: the ``STREAMPROC_*`` settings and the pipelines file (sources and sinks).

``settings`` reads the environment (:func:`~streamproc.config.settings.load_settings`);
``loader`` reads and validates the pipelines file (:func:`~streamproc.config.loader.load_pipelines`)
into the models of ``pipelines`` (field types in ``fields``) and ``sinks``.
"""

__all__: list[str] = []
