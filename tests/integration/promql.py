"""Just enough PromQL scanning to check expressions against a real Prometheus: the metric
selectors an expression names, and the operands of its top-level comparisons and set operators
(``a > 0 unless b``: ``a``, ``0``, ``b``; parentheses and ``absent(…)`` around them are looked
through). Prometheus itself parses every expression; this only decides what else to query."""

from __future__ import annotations

import re

__all__ = ["selectors", "operands", "is_number"]

_TOKEN = re.compile(
    r"""\s+
    | "(?:[^"\\]|\\.)*" | '(?:[^'\\]|\\.)*'
    | \[[^\]]*\] | \{[^}]*\}
    | [A-Za-z_:][A-Za-z0-9_:]*
    | \d+(?:\.\d+)?(?:[eE][+-]?\d+)?
    | >=|<=|==|!=|[-+*/%^(),<>]
    """,
    re.VERBOSE,
)
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless"}
_KEYWORDS |= {"offset", "inf", "nan"}
_KEYWORDS |= {"sum", "min", "max", "avg", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile"}
_KEYWORDS |= {"count_values", "limitk", "limit_ratio"}
_LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_SPLIT = {">", "<", ">=", "<=", "==", "!=", "and", "or", "unless"}


class _Tok(str):
    """A token that remembers where it is in the expression."""

    start: int
    end: int


def tokens(expr: str) -> list[_Tok]:
    out, pos = [], 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            raise ValueError(f"cannot scan {expr!r} at {pos}")
        if not m.group().isspace():
            tok = _Tok(m.group())
            tok.start, tok.end = m.start(), m.end()
            out.append(tok)
        pos = m.end()
    return out


def _skip_group(toks: list[_Tok], i: int) -> int:
    """Index after the parenthesised group starting at ``toks[i]`` (or ``i`` if none starts there)."""
    if i >= len(toks) or toks[i] != "(":
        return i
    depth = 0
    for j in range(i, len(toks)):
        depth += {"(": 1, ")": -1}.get(toks[j], 0)
        if depth == 0:
            return j + 1
    raise ValueError("unbalanced parentheses")


def selectors(expr: str) -> list[str]:
    """Every metric selector (``name`` or ``name{…}``), without range or offset, in order."""
    toks, out, i = tokens(expr), [], 0
    while i < len(toks):
        t = toks[i]
        if t in _LABEL_LISTS:
            i = _skip_group(toks, i + 1)
            continue
        ident = re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:]*", t) is not None
        if ident and t not in _KEYWORDS and not (i + 1 < len(toks) and toks[i + 1] == "("):
            braces = toks[i + 1] if i + 1 < len(toks) and toks[i + 1].startswith("{") else ""
            out.append(t + braces)
        i += 1
    return list(dict.fromkeys(out))


def _split_top(toks: list[_Tok]) -> list[list[_Tok]]:
    parts: list[list[_Tok]] = [[]]
    depth, i = 0, 0
    while i < len(toks):
        t = toks[i]
        if depth == 0 and t in _SPLIT:
            i += 1
            while i < len(toks) and toks[i] in _LABEL_LISTS | {"bool"}:  # modifiers of the operator
                i = i + 1 if toks[i] == "bool" else _skip_group(toks, i + 1)
            parts.append([])
            continue
        depth += {"(": 1, ")": -1}.get(t, 0)
        parts[-1].append(t)
        i += 1
    return parts


def _wrapped(toks: list[_Tok]) -> list[_Tok] | None:
    """The inside of ``( … )`` or ``absent( … )`` spanning all of ``toks``, else None."""
    start = 1 if toks[:2] == ["absent", "("] else 0
    if start < len(toks) and toks[start] == "(" and _skip_group(toks, start) == len(toks):
        return toks[start + 1 : -1]
    return None


def operands(expr: str) -> list[str]:
    """The operands of the top-level comparisons and set operators, as query texts."""
    out: list[str] = []
    pending = [tokens(expr)]
    while pending:
        toks = pending.pop(0)
        parts = _split_top(toks)
        if len(parts) > 1:
            pending[:0] = parts
            continue
        inner = _wrapped(toks)
        if inner is not None and (toks[0] == "absent" or len(_split_top(inner)) > 1):
            pending.insert(0, inner)
            continue
        out.append(expr[toks[0].start : toks[-1].end])
    return out


def is_number(text: str) -> bool:
    return re.fullmatch(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?", text.strip()) is not None
