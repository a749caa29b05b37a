"""A FAKE OpenSearch: a small in-memory HTTP stand-in for tests and the local demo.

OpenSearch cannot be installed on these machines, so this package answers the few documented
REST APIs the streamproc OpenSearch sink and ``streamproc opensearch init`` use, with the
response shapes of OpenSearch 2.x. It is not OpenSearch: no search, no scoring, no shards, no
persistence. The sink's integration scenario runs against it *and*, where Docker exists,
against the real ``opensearchproject/opensearch`` image (tests/integration/sinks/test_opensearch.py),
which keeps the two honest.

Implemented::

    GET|HEAD /                                   cluster info
    POST|PUT /_bulk, /<index>/_bulk              NDJSON index/create/delete; version_type
                                                 external/external_gte; 201/200, 409
                                                 version_conflict_engine_exception, delete of a
                                                 missing document → 404 "not_found" (a tombstone
                                                 keeps its version, like index.gc_deletes, forever)
    PUT|GET|HEAD /<index>                        create (settings, mappings, aliases) / describe
    GET /<index>/_mapping
    GET /<index>/_doc/<id>, GET /<index>/_count, POST /<index>/_refresh
    GET|HEAD /_alias/<name>
    PUT|GET|HEAD /_index_template/<name>         composable templates, applied at auto-create
    PUT|GET /_plugins/_ism/policies/<id>         create; update needs if_seq_no/if_primary_term

Dynamic mapping follows OpenSearch's rules closely enough to produce its errors: a field first
seen as an object then as a value (or the reverse), a value that does not parse as the field's
mapped type (long, double, boolean, date), a new field under ``"dynamic": "strict"``, a top-level
metadata field (``_id``) inside a document, and index.mapping.total_fields.limit. Dynamic
templates (match_mapping_type, match, unmatch, path_match, path_unmatch) and date_detection are
honoured.

Fault injection: :meth:`OpenSearchFake.fail_next` answers the next *n* requests whose path
contains a substring with 429 or 5xx; :meth:`OpenSearchFake.reject_items` rejects the next *n*
bulk items (e.g. 429 es_rejected_execution_exception); ``auth=(user, password)`` makes every
request need HTTP basic auth (401 otherwise) and :attr:`OpenSearchFake.forbidden` answers 403.

Usage outside pytest (the demo)::

    fake = OpenSearchFake(port=0).start()
    fake.url                      # http://127.0.0.1:<port>
    fake.stop(); fake.start()     # same port, same documents (an outage)
    fake.documents("app_users")   # {id: _source}

The pytest fixture ``opensearch_fake`` (a fresh fake per test) is in tests/services/opensearch.py.

Modules: :mod:`.server` (HTTP, start/stop, auth, faults), :mod:`.routes` (the REST routes),
:mod:`.bulk` (the bulk API and versioning), :mod:`.cluster` (indices, aliases, templates, ISM
policies), :mod:`.mapping` (dynamic mapping), :mod:`.store` (stored records), :mod:`.errors`.
"""

from __future__ import annotations

from streamproc.dev.opensearch_fake.errors import FakeError
from streamproc.dev.opensearch_fake.server import OpenSearchFake

__all__ = ["OpenSearchFake", "FakeError"]
