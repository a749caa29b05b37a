"""The state behind :class:`~streamproc.aggregate.downstream.WindowEngine`: one JSON cell per
(group, window) and per-partition meta entries.

A cell is ``{"g": [[field, value], …], "s": start, "e": end, "m": {metric: state}, "n": changes
applied, "r": finals emitted, "c": closed_by or None, "lc": late changes, "inc": incomplete,
"sk": skipped, "k": contributions}``. Meta (keys prefixed by the repartition partition):
``m`` — ``{"wm": {upstream partition: watermark}, "ap": {upstream partition: [offset, index]},
"newest": newest bucket start (rows mode)}``; ``open`` / ``closed`` / ``dirty`` — indexes
``{cell key: [start, end]}``.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from streamproc.aggregate import metrics as M
from streamproc.aggregate.delta import Delta
from streamproc.aggregate.result import Result, cell_result, late_result
from streamproc.aggregate.sessions import apply_session, on_closed, on_expired
from streamproc.aggregate.spec import AggregationSpec
from streamproc.aggregate.windows import assign
from streamproc.jsonutil import dumps

__all__ = ["CellStore"]

Cell = dict[str, Any]


class CellStore:
    def __init__(
        self,
        spec: AggregationSpec,
        cells: MutableMapping[bytes, Cell],
        meta: MutableMapping[bytes, dict[str, Any]],
        upstream_partitions: int,
        partition: int,
    ) -> None:
        self.spec = spec
        self.cells = cells
        self.meta = meta
        self.upstream_partitions = max(1, upstream_partitions)
        self.rows = spec.mode == "rows"
        self.updates = spec.emit == "updates"
        self._keys = {name: f"{partition}:{name}".encode() for name in ("m", "open", "closed", "dirty", "emitted")}

    def index(self, name: str) -> dict[str, Any]:
        return dict(self.meta.get(self._keys[name]) or {})

    def save_index(self, name: str, value: dict[str, Any]) -> None:
        self.meta[self._keys[name]] = value

    def min_watermark(self, m: dict[str, Any]) -> int | None:
        wm = m["wm"]
        if self.rows or len(wm) < self.upstream_partitions:
            return None
        return min(wm.values())

    def cell_key(self, group: dict[str, Any], start: int) -> bytes:
        return dumps([self.spec.name, list(group.values()), start])

    def new_cell(self, group: dict[str, Any], start: int, end: int) -> Cell:
        return {
            "g": [[k, v] for k, v in group.items()],
            "s": start,
            "e": end,
            "m": {m.name: M.empty(m) for m in self.spec.metrics},
            "n": 0,
            "r": 0,
            "c": None,
            "lc": 0,
            "inc": 0,
            "sk": 0,
            "k": 0,
        }

    def add(self, cell: Cell, delta: Delta) -> Cell:
        cell = dict(cell)
        if delta.sign:
            cell["m"] = {
                m.name: M.apply(m, cell["m"][m.name], delta.inputs.get(m.name, M.empty_input(m)), delta.sign)
                for m in self.spec.metrics
            }
            cell["sk"] += delta.sign * delta.skipped
            cell["k"] += delta.sign * delta.events
        cell["inc"] += delta.incomplete
        cell["n"] += delta.events
        return cell

    def result(self, cell: Cell, final: bool) -> Result:
        return cell_result(self.spec, cell, final)

    def late(self, delta: Delta, start: int, end: int, reason: str) -> Result:
        return late_result(self.spec, delta, start, end, reason)

    # -- the operations --------------------------------------------------------------------
    def apply(self, delta: Delta) -> list[Result]:
        key = self._keys["m"]
        m = dict(self.meta.get(key) or {"wm": {}, "ap": {}, "newest": None})
        up = str(delta.src[0])
        applied = m["ap"].get(up)
        if applied is not None and [delta.src[1], delta.src[2]] <= applied:
            return []  # a redelivered delta
        m["ap"] = {**m["ap"], up: [delta.src[1], delta.src[2]]}
        out: list[Result] = []
        if self.spec.window.type == "session":
            out += apply_session(self, delta, m)
        else:
            for start, end in assign(self.spec.window, self.spec.timezone, delta.time_ms):
                out += self._rows_window(delta, start, end, m) if self.rows else self._window(delta, start, end, m)
        if delta.watermark_ms is not None and not self.rows:
            old = m["wm"].get(up)
            if old is None or delta.watermark_ms > old:
                m["wm"] = {**m["wm"], up: delta.watermark_ms}
                out += self.close(m, "watermark")
        self.meta[key] = m
        return out

    def _window(self, delta: Delta, start: int, end: int, m: dict[str, Any]) -> list[Result]:
        ck = self.cell_key(delta.group, start)
        cell = self.cells.get(ck)
        if cell is None:
            wm = self.min_watermark(m)
            if wm is None or end + self.spec.grace_ms > wm:
                self.cells[ck] = self.add(self.new_cell(delta.group, start, end), delta)
                self.track_open(m, ck, start, end)
                if self.updates:
                    self._index_add("dirty", ck, start, end)
                return []
            if end + self.spec.retain_ms <= wm:
                return [self.late(delta, start, end, "beyond retain")]
            cell = {**self.new_cell(delta.group, start, end), "c": "watermark"}
            self.track_closed(m, ck, start, end)
        cell = self.add(cell, delta)
        if cell["c"] is None:
            self.cells[ck] = cell
            if self.updates:
                self._index_add("dirty", ck, start, end)
            return []
        cell["lc"] += delta.events
        cell["r"] += 1
        self.cells[ck] = cell
        return [self.result(cell, True)]

    def _rows_window(self, delta: Delta, start: int, end: int, m: dict[str, Any]) -> list[Result]:
        newest = m.get("newest")
        if newest is not None and start < newest - self.spec.retain_ms:
            return [self.late(delta, start, end, "beyond retain")]
        ck = self.cell_key(delta.group, start)
        cell = self.cells.get(ck)
        if cell is None:
            cell = self.new_cell(delta.group, start, end)
            self._index_add("open", ck, start, end)
        cell = self.add(cell, delta)
        if cell["c"] is not None:
            cell["lc"] += 1
        self.cells[ck] = cell
        self._index_add("dirty", ck, start, end)
        if newest is None or start > newest:
            m["newest"] = start
            self._drop_before(start - self.spec.retain_ms)
        return []

    def _index_add(self, name: str, ck: bytes, start: int, end: int) -> None:
        text = ck.decode()
        if text in (self.meta.get(self._keys[name]) or {}):
            return
        idx = self.index(name)
        idx[text] = [start, end]
        self.save_index(name, idx)

    def track_open(self, m: dict[str, Any], ck: bytes, start: int, end: int) -> None:
        """Index a new open cell; ``m["nc"]`` is at most the earliest end of an open cell."""
        self._index_add("open", ck, start, end)
        if m.get("nc") is None or end < m["nc"]:
            m["nc"] = end

    def _drop_before(self, limit: int) -> None:
        """rows mode: drop the buckets starting before ``limit`` (retain behind the newest)."""
        idx = self.index("open")
        gone = [k for k, (s, _) in idx.items() if s < limit]
        if not gone:
            return
        dirty = self.index("dirty")
        for k in gone:
            del idx[k]
            dirty.pop(k, None)
            self.cells.pop(k.encode(), None)
        self.save_index("open", idx)
        self.save_index("dirty", dirty)

    def close(self, m: dict[str, Any], closed_by: str) -> list[Result]:
        """Close the open windows whose ``end + grace`` the minimum watermark has reached, and
        forget the closed ones ``retain`` behind it."""
        wm = self.min_watermark(m)
        if wm is None:
            return []
        out: list[Result] = []
        if m.get("nc") is not None and m["nc"] + self.spec.grace_ms <= wm:
            out = self._close_due(m, wm, closed_by)
        if m.get("nx") is not None and m["nx"] + self.spec.retain_ms <= wm:
            self._expire(m, wm)
        return out

    def track_closed(self, m: dict[str, Any], ck: bytes, start: int, end: int) -> None:
        self._index_add("closed", ck, start, end)
        if m.get("nx") is None or end < m["nx"]:
            m["nx"] = end

    def _close_due(self, m: dict[str, Any], wm: int, closed_by: str) -> list[Result]:
        out: list[Result] = []
        opened = self.index("open")
        due = sorted((e, k) for k, (_, e) in opened.items() if e + self.spec.grace_ms <= wm)
        m["nc"] = min((e for _, e in opened.values() if e + self.spec.grace_ms > wm), default=None)
        if due:
            closed, dirty = self.index("closed"), self.index("dirty")
            for _, k in due:
                closed[k] = opened.pop(k)
                dirty.pop(k, None)
                cell = {**self.cells[k.encode()], "c": closed_by}
                cell["r"] += 1
                self.cells[k.encode()] = cell
                out.append(self.result(cell, True))
                if self.spec.window.type == "session":
                    on_closed(self, cell)
            self.save_index("open", opened)
            self.save_index("dirty", dirty)
            self.save_index("closed", closed)
            m["nx"] = min(e for _, e in closed.values())
        return out

    def _expire(self, m: dict[str, Any], wm: int) -> None:
        closed = self.index("closed")
        gone = [k for k, (_, e) in closed.items() if e + self.spec.retain_ms <= wm]
        m["nx"] = min((e for _, e in closed.values() if e + self.spec.retain_ms > wm), default=None)
        for k in gone:
            del closed[k]
            cell = self.cells.pop(k.encode(), None)
            if cell is not None and self.spec.window.type == "session":
                on_expired(self, cell)
        if gone:
            self.save_index("closed", closed)

    def advance(self, upstream_partition: int, watermark_ms: int, closed_by: str) -> list[Result]:
        key = self._keys["m"]
        m = dict(self.meta.get(key) or {"wm": {}, "ap": {}, "newest": None})
        up = str(upstream_partition)
        old = m["wm"].get(up)
        if self.rows or (old is not None and watermark_ms <= old):
            return []
        m["wm"] = {**m["wm"], up: watermark_ms}
        out = self.close(m, closed_by)
        self.meta[key] = m
        return out

    def end_of_input(self) -> list[Result]:
        opened = self.index("open")
        out = []
        for k, _ in sorted(opened.items(), key=lambda kv: (kv[1][0], kv[0])):
            cell = {**self.cells[k.encode()], "c": "end-of-input"}
            cell["r"] += 1
            self.cells[k.encode()] = cell
            out.append(self.result(cell, True))
        self.save_index("open", {})
        self.save_index("dirty", {})
        key = self._keys["m"]
        if key in self.meta:
            self.meta[key] = {**self.meta[key], "nc": None}
        return out

    def flush_updates(self, now: int | None) -> list[Result]:
        """Dirty cells not emitted within ``every`` (all if ``now`` is None); emission times are kept
        in meta (``emitted``, only those younger than ``every``), across engine instances."""
        dirty = self.index("dirty")
        if not dirty:
            return []
        every = self.spec.every_ms
        emitted = self.index("emitted")
        if now is not None:
            emitted = {k: t for k, t in emitted.items() if 0 <= now - t < every}
        out = []
        for k in sorted(dirty):
            if now is not None and k in emitted:
                continue
            cell = self.cells.get(k.encode())
            del dirty[k]
            if cell is None:
                continue
            out.append(self.result(cell, False))
            if now is not None:
                emitted[k] = now
        self.save_index("dirty", dirty)
        self.save_index("emitted", emitted)
        return out
