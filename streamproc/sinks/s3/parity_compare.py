"""Shadow-mode parity, the comparison: two listed trees paired by base key, every pair given
exactly one class (:mod:`.parity_classes`), the report.

A pair whose parts have equal ETags in the listing (in order) is ``identical`` without a
download. Without a pipeline and without ``explain``, a pair whose total sizes differ is
``fields-differ`` without a download (its paths are not needed); every other pair is downloaded
and classified (multipart and SSE-KMS ETags can differ for equal bytes, so the bytes decide).
With a pipeline, left-only documents are downloaded too, to tell ``dlq-by-rule`` from
``missing-right``. The match rate is ``matches / pairs * 100`` where ``pairs`` is the union of
base keys and ``matches`` counts ``identical`` and ``equal-after-pipeline`` (and
``numeric-representation`` with ``numeric_equal``). Examples name object keys and field paths,
never a value.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from streamproc.sinks.s3.parity import Tree, read_document
from streamproc.sinks.s3.parity_classes import (
    CLASSES,
    DLQ,
    FIELDS,
    IDENTICAL,
    MATCHED,
    MISSING_LEFT,
    MISSING_RIGHT,
    NUMERIC,
    Pipeline,
    classify_left_only,
    classify_pair,
)

__all__ = ["ParityReport", "compare"]

Base = tuple[str, int]


@dataclass(slots=True)
class ParityReport:
    left: str
    right: str
    left_documents: int
    right_documents: int
    left_objects: int
    right_objects: int
    left_unrecognised: int
    right_unrecognised: int
    pairs: int
    matches: int
    mismatches: int
    missing_left: int  # only on the right
    missing_right: int  # only on the left (dlq-by-rule included)
    match_rate: float
    threshold: float
    since_ms: int | None
    classes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    #: class → up to ``explain`` examples: {"key": object key, "paths": [...], "rule": name}
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: dlq-by-rule: rule name → count
    rules: dict[str, int] = field(default_factory=dict)
    pipeline: str | None = None  # the entity whose pipeline was applied to the left side
    numeric_equal: bool = False

    @property
    def passed(self) -> bool:
        return self.pairs > 0 and self.match_rate >= self.threshold

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def _key_of(tree: Tree, base: Base) -> str:
    return tree.documents[base][0]


def _same_without_download(left: Tree, right: Tree, base: Base) -> bool | None:
    """True: equal ETags part by part; False: different total sizes; None: only the bytes can tell."""
    tags = left.etags_of(base)
    if tags is not None and tags == right.etags_of(base):
        return True
    sizes = left.size_of(base), right.size_of(base)
    if None not in sizes and sizes[0] != sizes[1]:
        return False
    return None


def compare(
    client: Any,
    left: Tree,
    right: Tree,
    threshold: float,
    since_ms: int | None = None,
    workers: int = 16,
    *,
    pipeline: Pipeline | None = None,
    entity: str | None = None,
    explain: int = 0,
    numeric_equal: bool = False,
) -> ParityReport:
    """Pair, classify and count the documents of two listed trees. A failed read raises
    :class:`~streamproc.sinks.s3.parity.SideFailure` naming the side."""
    common = sorted(left.documents.keys() & right.documents.keys())
    only_left = sorted(left.documents.keys() - right.documents.keys())
    only_right = sorted(right.documents.keys() - left.documents.keys())
    results: list[tuple[Base, str, list[str], str | None, Tree]] = []
    fetch: list[Base] = []
    for b in common:
        same = _same_without_download(left, right, b)
        if same:
            results.append((b, IDENTICAL, [], None, left))
        elif same is False and pipeline is None and not explain:
            results.append((b, FIELDS, [], None, left))
        else:
            fetch.append(b)

    def pair(b: Base) -> tuple[Base, str, list[str], str | None, Tree]:
        lb = read_document(client, left.url, left.documents[b])
        rb = read_document(client, right.url, right.documents[b])
        cls, paths = classify_pair(lb, rb, pipeline)
        return b, cls, paths, None, left

    def left_only(b: Base) -> tuple[Base, str, list[str], str | None, Tree]:
        assert pipeline is not None
        cls, rule = classify_left_only(read_document(client, left.url, left.documents[b]), pipeline)
        return b, cls, [], rule, left

    with ThreadPoolExecutor(max(1, workers)) as pool:
        try:
            results += pool.map(pair, fetch)
            if pipeline is not None:
                results += pool.map(left_only, only_left)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)  # no further downloads after a failure
            raise
    if pipeline is None:
        results += [(b, MISSING_RIGHT, [], None, left) for b in only_left]
    results += [(b, MISSING_LEFT, [], None, right) for b in only_right]

    classes: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    examples: dict[str, list[dict[str, Any]]] = {}
    for b, cls, paths, rule, tree in sorted(results, key=lambda r: r[0]):
        classes[cls] += 1
        if rule is not None:
            rules[rule] += 1
        shown = examples.setdefault(cls, []) if explain else []
        if explain and len(shown) < explain:
            ex: dict[str, Any] = {"key": _key_of(tree, b)}
            if cls == FIELDS:
                ex["paths"] = paths
            if rule is not None:
                ex["rule"] = rule
            shown.append(ex)
    matched = MATCHED + ((NUMERIC,) if numeric_equal else ())
    matches = sum(classes[c] for c in matched)
    pairs = len(results)
    return ParityReport(
        left=str(left.url),
        right=str(right.url),
        left_documents=len(left.documents),
        right_documents=len(right.documents),
        left_objects=left.objects,
        right_objects=right.objects,
        left_unrecognised=left.unrecognised,
        right_unrecognised=right.unrecognised,
        pairs=pairs,
        matches=matches,
        mismatches=len(common) - matches,
        missing_left=classes[MISSING_LEFT],
        missing_right=classes[MISSING_RIGHT] + classes[DLQ],
        match_rate=round(matches / pairs * 100, 4) if pairs else 0.0,
        threshold=threshold,
        since_ms=since_ms,
        classes={c: classes[c] for c in CLASSES},
        examples=examples,
        rules=dict(sorted(rules.items())),
        pipeline=entity,
        numeric_equal=numeric_equal,
    )
