"""The curated public surface, and the dependency rule: the pure pipeline and the decoders import
no framework or SDK (faust, boto3, confluent_kafka, …), so they can run anywhere."""

from __future__ import annotations

import json
import subprocess
import sys

import streamproc
import streamproc.sources


def test_package_all() -> None:
    assert streamproc.__all__ == [
        "__version__",
        "ChangeEvent",
        "Op",
        "Skip",
        "Update",
        "StreamprocError",
        "ConfigError",
        "DecodeError",
        "ValidationFailed",
    ]
    for name in streamproc.__all__:
        assert hasattr(streamproc, name), name
    assert isinstance(streamproc.__version__, str) and streamproc.__version__


def test_sources_all() -> None:
    assert streamproc.sources.__all__ == ["Decoder", "FORMATS", "check_format", "parse_json", "to_plain"]
    for name in streamproc.sources.__all__:
        assert hasattr(streamproc.sources, name), name
    assert streamproc.sources.FORMATS == streamproc.model.FORMATS


def test_error_classes_share_one_root() -> None:
    for name in ("ConfigError", "DecodeError", "ValidationFailed"):
        assert issubclass(getattr(streamproc, name), streamproc.StreamprocError)


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
