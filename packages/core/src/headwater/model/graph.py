"""Graph algorithms over task ids: topological order, cycles, longest (critical) paths."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def topological_order(nodes: Sequence[str], upstream: Mapping[str, set[str]]) -> list[str] | list[list[str]]:
    """Nodes in dependency order (stable: definition order breaks ties).

    Returns ``list[str]`` on success, or ``[cycle]`` (a list holding one list of
    node ids forming a cycle, first node repeated at the end) if there is one.
    """
    indegree = {n: len(upstream.get(n, ())) for n in nodes}
    downstream: dict[str, list[str]] = {n: [] for n in nodes}
    for node in nodes:
        for up in upstream.get(node, ()):
            downstream[up].append(node)
    ready = [n for n in nodes if indegree[n] == 0]
    order: list[str] = []
    i = 0
    while i < len(ready):
        node = ready[i]
        i += 1
        order.append(node)
        for down in downstream[node]:
            indegree[down] -= 1
            if indegree[down] == 0:
                ready.append(down)
    if len(order) == len(nodes):
        return order
    return [find_cycle([n for n in nodes if indegree[n] > 0], upstream)]


def find_cycle(candidates: Sequence[str], upstream: Mapping[str, set[str]]) -> list[str]:
    """One cycle among ``candidates`` (nodes left over by Kahn's algorithm), in edge order."""
    remaining = set(candidates)
    start = candidates[0]
    # Walk upstream edges inside the remaining set until a node repeats.
    path: list[str] = []
    seen: dict[str, int] = {}
    node = start
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = next(u for u in sorted(upstream[node]) if u in remaining)
    cycle = path[seen[node] :]
    cycle.reverse()  # we walked upstream; print in the direction tasks run
    return [*cycle, cycle[0]]


def longest_paths(
    order: Sequence[str], upstream: Mapping[str, set[str]], weight: Mapping[str, float]
) -> dict[str, float]:
    """For each node, the heaviest path from it to any sink (itself included)."""
    downstream: dict[str, list[str]] = {n: [] for n in order}
    for node in order:
        for up in upstream.get(node, ()):
            downstream[up].append(node)
    below: dict[str, float] = {}
    for node in reversed(order):
        below[node] = weight.get(node, 0.0) + max((below[d] for d in downstream[node]), default=0.0)
    return below


def critical_path(
    order: Sequence[str], upstream: Mapping[str, set[str]], weight: Mapping[str, float]
) -> tuple[list[str], float]:
    """The heaviest source-to-sink path and its total weight."""
    if not order:
        return [], 0.0
    below = longest_paths(order, upstream, weight)
    downstream: dict[str, list[str]] = {n: [] for n in order}
    for node in order:
        for up in upstream.get(node, ()):
            downstream[up].append(node)
    node = max((n for n in order if not upstream.get(n)), key=lambda n: below[n])
    path = [node]
    while downstream[node]:
        node = max(downstream[node], key=lambda n: below[n])
        path.append(node)
    return path, below[path[0]]
