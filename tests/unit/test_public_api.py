"""The curated public surface as a user meets it (the documented imports, one root for every
error, the decoders usable from the package), and the dependency rule: the pure pipeline and the
decoders import no framework or SDK (faust, boto3, confluent_kafka, …), so they can run anywhere."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys

import pytest

import streamproc
import streamproc.errors
import streamproc.model


def test_the_documented_imports_work_and_are_the_real_classes() -> None:
    from streamproc import (
        ChangeEvent,
        ConfigError,
        DecodeError,
        Op,
        Skip,
        StreamprocError,
        Update,
        ValidationFailed,
        __version__,
    )

    # the very classes the library returns and raises, so isinstance and except work on them
    model, errors = streamproc.model, streamproc.errors
    assert (ChangeEvent, Op, Skip, Update) == (model.ChangeEvent, model.Op, model.Skip, model.Update)
    assert (StreamprocError, ConfigError, DecodeError, ValidationFailed) == (
        errors.StreamprocError,
        errors.ConfigError,
        errors.DecodeError,
        errors.ValidationFailed,
    )
    assert __version__ == importlib.metadata.version("streamproc")


def test_one_except_clause_catches_every_deliberate_error() -> None:
    from streamproc.sources import check_format

    with pytest.raises(streamproc.StreamprocError) as caught:
        check_format("no-such-format")
    assert isinstance(caught.value, streamproc.ConfigError)
    for name in ("ConfigError", "DecodeError", "ValidationFailed"):
        assert issubclass(getattr(streamproc, name), streamproc.StreamprocError)


def test_the_sources_package_decodes_without_reaching_into_its_modules() -> None:
    from streamproc.sources import FORMATS, Decoder, check_format, parse_json, to_plain

    assert check_format("debezium-mongodb") == "debezium-mongodb" and "debezium-mongodb" in FORMATS
    assert to_plain(parse_json('{"n": {"$numberLong": "12345678901234567890"}}')) == {"n": 12345678901234567890}
    value = b'{"op": "c", "after": {"id": 1, "name": "Ada"}, "source": {"connector": "postgresql", "table": "t"}}'
    event = Decoder().decode("pg.public.t", None, value)
    assert isinstance(event, streamproc.ChangeEvent) and event.op is streamproc.Op.INSERT


FORBIDDEN = ("faust", "mode", "aiokafka", "boto3", "botocore", "confluent_kafka", "psycopg", "opensearchpy")


def test_pipeline_and_sources_import_no_framework_or_sdk() -> None:
    code = (
        "import json, sys\n"
        "import streamproc.pipeline.processor, streamproc.pipeline.compiled, streamproc.pipeline.merge\n"
        "import streamproc.pipeline.dlq, streamproc.sources, streamproc.model\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(json.dumps(bad))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_the_check_itself_detects_a_framework_import() -> None:
    code = (
        "import json, sys\n"
        "import streamproc.runtime.admin\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'confluent_kafka')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "confluent_kafka" in json.loads(proc.stdout)
