"""The warehouse sink: row planning and SQL, with PostgreSQL and DuckDB backends."""

__all__: list[str] = []
