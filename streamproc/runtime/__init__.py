"""Everything that touches Faust or a Kafka client: the ingest and sink apps, the worker, the
consumer, producer and admin client, metrics and the web endpoints. Private Faust, aiokafka, mode
and rocksdict internals are touched in :mod:`.faust_compat` only."""

__all__: list[str] = []
