"""Session windows (events mode, ``emit: final``): per group, the events no more than ``gap``
apart form one session ``[first event, last event + gap)``; an event overlapping several open
sessions merges them (the merged session keeps the earliest start as its key).

A late event (its session would already be closed) that overlaps a closed session still in
state amends it (revision + 1; the session's end may grow, its start — the key — stays); one
overlapping nothing starts a session that is closed at once (or, beyond ``retain``, is a late
record). Each group has an index cell ``[aggregation, group values, "sessions"]`` listing its
open (``o``) and closed (``x``) sessions as ``[start, end]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamproc.aggregate import metrics as M
from streamproc.aggregate.delta import Delta
from streamproc.aggregate.result import Result
from streamproc.jsonutil import dumps

if TYPE_CHECKING:
    from streamproc.aggregate.cells import Cell, CellStore

__all__ = ["apply_session", "on_closed", "on_expired"]


def _index_key(store: CellStore, group: dict[str, Any]) -> bytes:
    return dumps([store.spec.name, list(group.values()), "sessions"])


def _merge(store: CellStore, a: Cell, b: Cell) -> Cell:
    out = dict(a)
    out["m"] = {m.name: M.merge(m, a["m"][m.name], b["m"][m.name]) for m in store.spec.metrics}
    for field in ("n", "inc", "sk", "k"):
        out[field] = a[field] + b[field]
    return out


def apply_session(store: CellStore, delta: Delta, m: dict[str, Any]) -> list[Result]:
    spec = store.spec
    a, b = delta.time_ms, delta.time_ms + spec.window.gap_ms
    gk = _index_key(store, delta.group)
    idx = store.cells.get(gk) or {"o": [], "x": []}
    opened, closed = list(idx["o"]), list(idx["x"])
    hits = [w for w in opened if a < w[1] and b > w[0]]
    out: list[Result] = []
    if hits:
        start, end = min([a] + [w[0] for w in hits]), max([b] + [w[1] for w in hits])
        cell = store.new_cell(delta.group, start, end)
        open_index = store.index("open")
        for s, _ in hits:
            ck = store.cell_key(delta.group, s)
            cell = _merge(store, cell, store.cells.pop(ck))
            open_index.pop(ck.decode(), None)
        ck = store.cell_key(delta.group, start)
        store.cells[ck] = store.add(cell, delta)
        open_index[ck.decode()] = [start, end]
        store.save_index("open", open_index)
        m["nc"] = min(end, m["nc"]) if m.get("nc") is not None else end
        opened = sorted([w for w in opened if w not in hits] + [[start, end]])
    else:
        late = next((w for w in sorted(closed) if a < w[1] and b > w[0]), None)
        wm = store.min_watermark(m)
        if late is None and (wm is None or b + spec.grace_ms > wm):
            ck = store.cell_key(delta.group, a)
            store.cells[ck] = store.add(store.new_cell(delta.group, a, b), delta)
            store.track_open(m, ck, a, b)
            opened = sorted(opened + [[a, b]])
        elif late is None and wm is not None and b + spec.retain_ms <= wm:
            return [store.late(delta, a, b, "beyond retain")]
        else:
            start = late[0] if late is not None else a
            ck = store.cell_key(delta.group, start)
            base = store.cells.get(ck) if late is not None else None
            cell = store.add(base or {**store.new_cell(delta.group, a, b), "c": "watermark"}, delta)
            cell["e"] = max(cell["e"], b)
            cell["lc"] += 1
            cell["r"] += 1
            store.cells[ck] = cell
            closed = sorted([w for w in closed if w != late] + [[start, cell["e"]]])
            closed_index = store.index("closed")
            closed_index[ck.decode()] = [start, cell["e"]]
            store.save_index("closed", closed_index)
            m["nx"] = min(cell["e"], m["nx"]) if m.get("nx") is not None else cell["e"]
            out.append(store.result(cell, True))
    store.cells[gk] = {"o": opened, "x": closed}
    return out


def on_closed(store: CellStore, cell: Cell) -> None:
    """Move a session that just closed from the group's open list to its closed list."""
    group = dict(cell["g"])
    gk = _index_key(store, group)
    idx = store.cells.get(gk) or {"o": [], "x": []}
    window = [cell["s"], cell["e"]]
    store.cells[gk] = {"o": [w for w in idx["o"] if w[0] != cell["s"]], "x": sorted(idx["x"] + [window])}


def on_expired(store: CellStore, cell: Cell) -> None:
    """Forget an expired session in its group's index (and the index once empty)."""
    gk = _index_key(store, dict(cell["g"]))
    idx = store.cells.get(gk) or {"o": [], "x": []}
    closed = [w for w in idx["x"] if w[0] != cell["s"]]
    if closed or idx["o"]:
        store.cells[gk] = {"o": idx["o"], "x": closed}
    else:
        store.cells.pop(gk, None)
