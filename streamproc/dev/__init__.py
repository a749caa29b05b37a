"""Local development: the embedded broker, local services (moto, DuckDB, the OpenSearch stand-in,
a fake) and the demo. Nothing here runs in production."""

__all__: list[str] = []
