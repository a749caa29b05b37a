"""The OpenSearch sink: planning (index names, ids, versions), bulk bodies, index set-up."""

__all__: list[str] = []
