"""The route table's tree answers exactly what matching every pattern in turn answers.

The oracle below is the plain reading of the rules (the gateway's former linear matcher): score
each pattern against the path, keep the best score, take the first route of it by template order
whose method fits. Hypothesis draws route sets and paths from a small alphabet, so literals,
captures, greedy captures, ties and wrong methods all collide often.
"""

from __future__ import annotations

from urllib.parse import unquote

from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.embedded.gateway import LocalGateway
from pilothouse.embedded.gateway_routes import Match, RouteMatch, RouteTable
from pilothouse.embedded.template import HttpRoute


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _oracle_path(pattern: str, path: str) -> tuple[dict[str, str], int] | None:
    pat, segs = _segments(pattern), _segments(path)
    params: dict[str, str] = {}
    score = 0
    for i, p in enumerate(pat):
        if p.startswith("{") and p.endswith("+}"):
            if i >= len(segs):
                return None
            params[p[1:-2]] = "/".join(segs[i:])
            return params, score
        if i >= len(segs):
            return None
        if p.startswith("{") and p.endswith("}"):
            params[p[1:-1]] = unquote(segs[i])
        elif p == segs[i]:
            score += 1
        else:
            return None
    if len(pat) != len(segs):
        return None
    return params, score


def _oracle(routes: list[HttpRoute], method: str, path: str) -> RouteMatch:
    candidates = []
    for route in routes:
        found = _oracle_path(route.path, path)
        if found is not None:
            candidates.append((found[1], route, found[0]))
    if not candidates:
        return RouteMatch(Match.NONE)
    candidates.sort(key=lambda c: -c[0])
    best_score = candidates[0][0]
    for score, route, params in candidates:
        if score == best_score and route.method in (method.upper(), "ANY"):
            return RouteMatch(Match.FULL, route, params)
    allowed = tuple(sorted({r.method for s, r, _ in candidates if s == best_score}))
    return RouteMatch(Match.PARTIAL, allowed=allowed)


_pattern_segment = st.sampled_from(["a", "b", "v1", "{x}", "{y}", "{p+}", "%41"])
_path_segment = st.sampled_from(["a", "b", "v1", "c", "%41", "A", "a%2Fb", ""])
_methods = st.sampled_from(["GET", "POST", "DELETE", "ANY"])
_routes = st.lists(
    st.builds(
        lambda i, m, segs: HttpRoute(f"F{i}", m, "/" + "/".join(segs)),
        st.integers(0, 99),
        _methods,
        st.lists(_pattern_segment, max_size=4),
    ),
    max_size=12,
)
_paths = st.lists(_path_segment, max_size=6).map(lambda segs: "/" + "/".join(segs))


@settings(max_examples=400, deadline=None)
@given(routes=_routes, method=st.sampled_from(["GET", "post", "DELETE", "PUT"]), path=_paths)
def test_the_tree_matches_as_every_pattern_in_turn_does(routes, method, path):
    """Given any routes and any path
    When the tree matches it
    Then the answer (kind, route, params, allowed methods) is the oracle's."""
    assert RouteTable(routes).match(method, path) == _oracle(routes, method, path)


def test_every_route_of_the_template_matches_as_before(cloud):
    """Given the routes of template.yaml
    When each route's own path (captures filled) and some strays are matched with each method
    Then the tree answers what the oracle answers."""
    table = RouteTable(cloud.routes)
    paths = ["/", "/v1", "/v1/components", "/v1/nope", "/v1/components/a%20b/events/x", "//v1//health/"]
    paths += [r.path.replace("{", "x").replace("}", "") for r in cloud.routes]
    for path in paths:
        for method in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"):
            assert table.match(method, path) == _oracle(cloud.routes, method, path), (method, path)


def test_the_gateway_resolves_with_the_tree(cloud, pool):
    """Given the gateway over template.yaml
    When a component's path is resolved
    Then it goes to GetComponentFunction with the name decoded."""
    found = LocalGateway(cloud.routes, pool).resolve("GET", "/v1/components/my%2Dweb")
    assert found.function == "GetComponentFunction" and found.params == {"name": "my-web"}
