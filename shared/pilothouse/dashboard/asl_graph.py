"""An ASL state machine drawn as a graph (states and transitions), top to bottom, as the Step
Functions console draws it, with an execution's path and current state coloured.

States are placed in layers by their shortest distance from ``StartAt``; each transition (``Next``,
``Default``, a Choice rule's ``Next``, a ``Catch``'s ``Next``) is an arrow. A Parallel or Map state is
one box (its branches are their own machines).

    >>> svg = draw({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"},
    ...                                       "B": {"Type": "Succeed"}}}, visited={"A"}, current="B")
    >>> 'data-state="A"' in svg and "visited" in svg and "current" in svg
    True
"""

from __future__ import annotations

from collections import deque
from typing import Any

from markupsafe import Markup, escape

BOX_W, BOX_H, GAP_X, GAP_Y = 170, 34, 24, 40


def transitions(state: dict[str, Any]) -> list[tuple[str, str]]:
    """(target, kind) of every transition out of one state."""
    out: list[tuple[str, str]] = []
    if isinstance(state.get("Next"), str):
        out.append((state["Next"], "next"))
    for rule in state.get("Choices") or []:
        if isinstance(rule, dict) and isinstance(rule.get("Next"), str):
            out.append((rule["Next"], "choice"))
    if isinstance(state.get("Default"), str):
        out.append((state["Default"], "default"))
    for catcher in state.get("Catch") or []:
        if isinstance(catcher, dict) and isinstance(catcher.get("Next"), str):
            out.append((catcher["Next"], "catch"))
    return out


def layers(definition: dict[str, Any]) -> list[list[str]]:
    """The states by their shortest distance from StartAt; unreachable states last."""
    states = definition.get("States") or {}
    start = definition.get("StartAt")
    depth: dict[str, int] = {}
    queue: deque[str] = deque()
    if isinstance(start, str) and start in states:
        depth[start] = 0
        queue.append(start)
    while queue:
        name = queue.popleft()
        for target, _ in transitions(states[name]):
            if target in states and target not in depth:
                depth[target] = depth[name] + 1
                queue.append(target)
    rows: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for name in states:
        if name in depth:
            rows[depth[name]].append(name)
    orphans = [n for n in states if n not in depth]
    if orphans:
        rows.append(orphans)
    return rows


def draw(
    definition: dict[str, Any],
    *,
    visited: set[str] | frozenset[str] = frozenset(),
    current: str | None = None,
    failed: str | None = None,
) -> Markup:
    """The SVG of ``definition``; states in ``visited`` are on the execution's path, ``current`` is
    where it is now, ``failed`` where it failed."""
    states = definition.get("States") or {}
    rows = layers(definition)
    widest = max((len(r) for r in rows), default=1)
    width = widest * (BOX_W + GAP_X) + GAP_X
    height = len(rows) * (BOX_H + GAP_Y) + GAP_Y
    where: dict[str, tuple[float, float]] = {}
    for depth, row in enumerate(rows):
        offset = (width - len(row) * (BOX_W + GAP_X) + GAP_X) / 2
        for i, name in enumerate(row):
            where[name] = (offset + i * (BOX_W + GAP_X), GAP_Y / 2 + depth * (BOX_H + GAP_Y))
    parts = [
        f'<svg class="asl" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'aria-label="state machine with {len(states)} states">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path class="arrow-head" d="M 0 0 L 10 5 L 0 10 z"/></marker></defs>',
    ]
    for name, state in states.items():
        x0, y0 = where[name]
        for target, kind in transitions(state):
            if target not in where:
                continue
            x1, y1 = where[target]
            taken = name in visited and (target in visited or target == current)
            cls = f"edge {kind}{' taken' if taken else ''}"
            sx, sy = x0 + BOX_W / 2, y0 + BOX_H
            tx, ty = x1 + BOX_W / 2, y1
            if ty <= sy:  # a loop back up: leave from the side
                sx, sy, tx, ty = x0 + BOX_W, y0 + BOX_H / 2, x1 + BOX_W, y1 + BOX_H / 2
                mid = max(sx, tx) + 18
                d = f"M {sx:.1f} {sy:.1f} C {mid:.1f} {sy:.1f} {mid:.1f} {ty:.1f} {tx:.1f} {ty:.1f}"
            else:
                d = f"M {sx:.1f} {sy:.1f} L {tx:.1f} {ty:.1f}"
            parts.append(f'<path class="{cls}" d="{d}" marker-end="url(#arrow)"/>')
    for name, state in states.items():
        x, y = where[name]
        kind = str(state.get("Type", "?"))
        status = (
            "failed"
            if name == failed
            else "current"
            if name == current
            else "visited"
            if name in visited
            else "idle"
        )
        parts.append(
            f'<g class="state {status}" data-state="{escape(name)}"><title>{escape(name)} ({escape(kind)}): '
            f"{status}</title>"
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{BOX_W}" height="{BOX_H}" rx="6"/>'
            f'<text x="{x + BOX_W / 2:.1f}" y="{y + 15:.1f}" text-anchor="middle">{escape(name[:24])}</text>'
            f'<text class="kind" x="{x + BOX_W / 2:.1f}" y="{y + 28:.1f}" text-anchor="middle">'
            f"{escape(kind)}</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def path_of(history: list[dict[str, Any]]) -> tuple[set[str], str | None, str | None]:
    """(states entered, the state entered last and not left, the state a failure happened in)
    from an execution's history events (Step Functions' shapes)."""
    visited: set[str] = set()
    current: str | None = None
    failed: str | None = None
    for event in history:
        kind = str(event.get("type") or "")
        details = next(
            (v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)), {}
        )
        name = details.get("name")
        if kind.endswith("StateEntered") and isinstance(name, str):
            visited.add(name)
            current = name
        elif kind.endswith("StateExited") and name == current:
            current = None
        elif kind.endswith("Failed") and current is not None:
            failed = current
    return visited, current, failed
