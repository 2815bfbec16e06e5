"""The local gateway's route table: which route of template.yaml a request's path and method take.

    table = RouteTable([HttpRoute("Get", "GET", "/v1/components/{name}"), ...])
    table.match("GET", "/v1/components/web")  # FULL, the Get route, {"name": "web"}
    table.match("PUT", "/v1/components/web")  # PARTIAL: the path is routed, not for PUT (405)

Matching is API Gateway's: literal segments beat ``{captures}`` (a route's score is how many of
its segments are literal), ``{name+}`` takes the rest of the path (one segment at least), empty
segments are ignored, captures are percent-decoded. Of the routes with the best score, the first
(in template order) whose method is the request's or ``ANY`` wins; if none does, the match is
PARTIAL and names the methods those routes allow.

The routes are compiled once into a tree of segments, so a request walks only the branches its
own segments open (a literal child by dict lookup, the capture child) instead of every pattern.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from urllib.parse import unquote

from pilothouse.embedded.template import HttpRoute

__all__ = ["Match", "RouteMatch", "RouteTable"]


class Match(Enum):
    NONE = 0
    PARTIAL = 1  # the path matches a route, the method does not → 405
    FULL = 2


@dataclass(frozen=True)
class RouteMatch:
    match: Match
    route: HttpRoute | None = None
    params: dict[str, str] | None = None
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Leaf:
    """A route where it ends in the tree: its template order, capture names, greedy name."""

    order: int
    route: HttpRoute
    captures: tuple[str, ...]
    greedy: str | None = None


@dataclass
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    capture: _Node | None = None
    ends: list[_Leaf] = field(default_factory=list)  # routes whose last segment is this node's
    greedy: list[_Leaf] = field(default_factory=list)  # routes whose next segment is {name+}


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


# (score, template order, the route, its params)
_Found = tuple[int, int, HttpRoute, dict[str, str]]


class RouteTable:
    """The routes of one gateway, matched by a tree of their segments (see the module's docstring)."""

    def __init__(self, routes: list[HttpRoute]) -> None:
        self.routes = routes
        self._root = _Node()
        for order, route in enumerate(routes):
            self._add(order, route)

    def _add(self, order: int, route: HttpRoute) -> None:
        node = self._root
        captures: list[str] = []
        for seg in _segments(route.path):
            if seg.startswith("{") and seg.endswith("+}"):
                # what follows a greedy capture can never match anything more: it is ignored
                node.greedy.append(_Leaf(order, route, tuple(captures), seg[1:-2]))
                return
            if seg.startswith("{") and seg.endswith("}"):
                captures.append(seg[1:-1])
                node.capture = node.capture or _Node()
                node = node.capture
            else:
                node = node.literals.setdefault(seg, _Node())
        node.ends.append(_Leaf(order, route, tuple(captures)))

    def match(self, method: str, path: str) -> RouteMatch:
        segs = _segments(path)
        found: list[_Found] = []
        self._walk(self._root, segs, 0, [], 0, found)
        if not found:
            return RouteMatch(Match.NONE)
        best_score = max(f[0] for f in found)
        best = sorted((f for f in found if f[0] == best_score), key=lambda f: f[1])
        method = method.upper()
        for _, _, route, params in best:
            if route.method in (method, "ANY"):
                return RouteMatch(Match.FULL, route, params)
        return RouteMatch(Match.PARTIAL, allowed=tuple(sorted({f[2].method for f in best})))

    def _walk(
        self, node: _Node, segs: list[str], i: int, values: list[str], score: int, found: list[_Found]
    ) -> None:
        """Every route ``segs[i:]`` reaches from ``node``, with its score and params, into ``found``."""
        if node.greedy and i < len(segs):
            rest = "/".join(segs[i:])
            for leaf in node.greedy:
                params = _params(leaf, values)
                assert leaf.greedy is not None
                params[leaf.greedy] = rest  # as API Gateway passes it: not decoded
                found.append((score, leaf.order, leaf.route, params))
        if i == len(segs):
            for leaf in node.ends:
                found.append((score, leaf.order, leaf.route, _params(leaf, values)))
            return
        child = node.literals.get(segs[i])
        if child is not None:
            self._walk(child, segs, i + 1, values, score + 1, found)
        if node.capture is not None:
            values.append(segs[i])
            self._walk(node.capture, segs, i + 1, values, score, found)
            values.pop()


def _params(leaf: _Leaf, values: list[str]) -> dict[str, str]:
    return {name: unquote(value) for name, value in zip(leaf.captures, values, strict=True)}
