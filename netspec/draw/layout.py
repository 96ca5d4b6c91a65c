"""A layered layout for nets: ranks top to bottom, few crossings, straight chains.

Sugiyama's method, kept small because nets are mostly chains with local branches and merges:

1. rank: a box one rank below the lowest box it reads (a source one rank above its first reader);
2. an edge longer than one rank gets a bend point on every rank it passes, so it can be routed
   around the boxes in between;
3. order within a rank: barycentre sweeps down and up, keeping the order with fewest crossings;
4. x: each rank placed as close as possible to where its neighbours want it (their weighted mean)
   with the boxes' widths and gaps respected, solved exactly by pooling adjacent violators; long
   edges weigh most (Graphviz's 1, 2, 8), so they run straight and chains stay on one line;
5. then every chain (each link its source's only way out, its target's only way in) is put on one
   vertical line, pushing the other boxes of its ranks aside, since the sweeps leave branches that
   run side by side a few pixels askew.

The geometry is top to bottom; a left-to-right picture lays out the boxes' transposed sizes and
transposes the result.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

Point = tuple[float, float]
_SWEEPS = 8


@dataclass
class Layout:
    centres: list[Point]  # one per box
    routes: list[list[Point]]  # one per edge: start on the source's bottom, end on the target's top
    width: float
    height: float


def _ranks(count: int, edges: list[tuple[int, int]]) -> list[int]:
    """Longest path from the sources; boxes must come in an order where every edge goes forward."""
    rank = [0] * count
    preds: list[list[int]] = [[] for _ in range(count)]
    succs: list[list[int]] = [[] for _ in range(count)]
    for s, t in edges:
        preds[t].append(s)
        succs[s].append(t)
    for v in range(count):
        if preds[v]:
            rank[v] = max(rank[u] for u in preds[v]) + 1
    for v in range(count):  # an input drawn just above its first reader, not at the very top
        if not preds[v] and succs[v]:
            rank[v] = max(0, min(rank[t] for t in succs[v]) - 1)
    return rank


def _crossings(order: list[list[int]], down: list[list[tuple[int, float]]], pos: list[float]) -> int:
    total = 0
    for layer in order[1:]:
        ends = sorted((pos[u], pos[v]) for v in layer for u, _ in down[v])
        tops = [b for _, b in ends]
        for i in range(len(tops)):  # inversions; ranks are narrow, so quadratic is fine
            total += sum(1 for j in range(i + 1, len(tops)) if tops[j] < tops[i])
    return total


def _pool(desired: list[float], weights: list[float], widths: list[float], gap: float) -> list[float]:
    """Positions nearest `desired` (weighted least squares) that keep each box `gap` apart from the
    next in order: isotonic regression on the positions less their minimal offsets."""
    offsets = [0.0]
    for a, b in itertools.pairwise(widths):
        offsets.append(offsets[-1] + (a + b) / 2 + gap)
    blocks: list[list[float]] = []  # [weight, weighted sum, count]
    for d, w, o in zip(desired, weights, offsets):
        blocks.append([w, w * (d - o), 1])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][0] >= blocks[-1][1] / blocks[-1][0]:
            w2, s2, n2 = blocks.pop()
            blocks[-1][0] += w2
            blocks[-1][1] += s2
            blocks[-1][2] += n2
    out: list[float] = []
    for w, s, n in blocks:
        out += [s / w] * int(n)
    return [x + o for x, o in zip(out, offsets)]


def layout(
    sizes: list[tuple[float, float]], edges: list[tuple[int, int]], *, rank_gap: float, gap: float
) -> Layout:
    """Place boxes of `sizes` (width, height) and route `edges` (source, target indices)."""
    count = len(sizes)
    rank = _ranks(count, edges)
    # Every edge split into one-rank links, with a bend point ("dummy") on each rank it passes.
    widths = [w for w, _ in sizes]
    ranks = list(rank)
    paths: list[list[int]] = []
    for s, t in edges:
        path = [s]
        for r in range(rank[s] + 1, rank[t]):
            widths.append(0.0)
            ranks.append(r)
            path.append(len(widths) - 1)
        path.append(t)
        paths.append(path)
    total = len(widths)
    real = [v < count for v in range(total)]
    down: list[list[tuple[int, float]]] = [[] for _ in range(total)]  # (neighbour above, weight)
    up: list[list[tuple[int, float]]] = [[] for _ in range(total)]
    for path in paths:
        for u, v in itertools.pairwise(path):
            w = 1.0 if real[u] and real[v] else 8.0 if not (real[u] or real[v]) else 2.0
            down[v].append((u, w))
            up[u].append((v, w))
    height = max(ranks, default=-1) + 1
    order: list[list[int]] = [[] for _ in range(height)]
    for v in range(count):  # boxes in spec order; bend points right after the box they leave
        order[ranks[v]].append(v)
    for path in paths:
        for v in path[1:-1]:
            order[ranks[v]].append(v)

    def positions() -> list[float]:
        pos = [0.0] * total
        for layer in order:
            for i, v in enumerate(layer):
                pos[v] = i
        return pos

    pos = positions()
    best, best_order = _crossings(order, down, pos), [list(layer) for layer in order]
    for sweep in range(_SWEEPS):
        going_down = sweep % 2 == 0
        links = down if going_down else up
        for layer in order[1:] if going_down else reversed(order[:-1]):
            keys = {}
            for v in layer:
                near = links[v]
                keys[v] = sum(pos[u] for u, _ in near) / len(near) if near else pos[v]
            layer.sort(key=lambda v: keys[v])
            for i, v in enumerate(layer):
                pos[v] = i
        crossings = _crossings(order, down, pos)
        if crossings < best:
            best, best_order = crossings, [list(layer) for layer in order]
        if best == 0:
            break
    order = best_order

    # x: start packed, then pull each rank towards its neighbours, down and up, a few times.
    x = [0.0] * total
    for layer in order:
        ws = [widths[v] for v in layer]
        for v, p in zip(layer, _pool([0.0] * len(layer), [1.0] * len(layer), ws, gap)):
            x[v] = p
    for sweep in range(_SWEEPS):
        links = down if sweep % 2 == 0 else up
        for layer in order if sweep % 2 == 0 else reversed(order):
            desired, weights = [], []
            for v in layer:
                near = links[v]
                w = sum(w for _, w in near)
                desired.append(sum(x[u] * w for u, w in near) / w if near else x[v])
                weights.append(w if near else 0.5)
            ws = [widths[v] for v in layer]
            for v, p in zip(layer, _pool(desired, weights, ws, gap)):
                x[v] = p
    _straighten(order, ranks, x, widths, down, up, gap)
    left = min((x[v] - widths[v] / 2 for v in range(total)), default=0.0)
    x = [p - left for p in x]

    # y: each rank as tall as its tallest box, `rank_gap` between ranks.
    tall = [0.0] * height
    for v in range(count):
        tall[ranks[v]] = max(tall[ranks[v]], sizes[v][1])
    top, y = 0.0, [0.0] * height
    for r in range(height):
        y[r] = top + tall[r] / 2
        top += tall[r] + rank_gap
    centres = [(x[v], y[rank[v]]) for v in range(count)]
    routes = []
    for path in paths:
        s, t = path[0], path[-1]
        route = [(x[s], y[rank[s]] + sizes[s][1] / 2)]
        for v in path[1:-1]:  # straight down through the rank it passes, bending only between ranks
            route += [(x[v], y[ranks[v]] - tall[ranks[v]] / 2), (x[v], y[ranks[v]] + tall[ranks[v]] / 2)]
        route.append((x[t], y[rank[t]] - sizes[t][1] / 2))
        routes.append(route)
    _spread_ports(routes, edges, sizes)
    right = max((x[v] + widths[v] / 2 for v in range(total)), default=0.0)
    return Layout(centres, routes, right, max(top - rank_gap, 0.0))


def _chains(
    total: int, down: list[list[tuple[int, float]]], up: list[list[tuple[int, float]]]
) -> list[list[int]]:
    """Maximal runs v0 -> v1 -> ... where each link is its source's only way down and its target's
    only way in (bend points included): the runs a reader expects to see as one straight line."""

    def follows(v: int) -> bool:  # v continues the run of the one box above it
        return len(down[v]) == 1 and len(up[down[v][0][0]]) == 1

    runs = []
    for v in range(total):
        if follows(v):
            continue
        run = [v]
        while len(up[run[-1]]) == 1 and follows(up[run[-1]][0][0]):
            run.append(up[run[-1]][0][0])
        if len(run) > 1:
            runs.append(run)
    return sorted(runs, key=len, reverse=True)


def _straighten(order, ranks, x, widths, down, up, gap: float) -> None:
    """Put each chain on one vertical line: at the chain's median, else at the position of the
    member nearest it that can be had, making room by pushing the other boxes of its ranks aside
    (chains already straight stay where they are). The sweeps only pull a box towards the mean of
    its neighbours on one side, which leaves parallel chains (the branches of an inception module,
    a siamese net's twins) zigzagging by a few pixels; longest chains go first."""
    held: set[int] = set()
    for run in _chains(len(x), down, up):
        spots = sorted(x[v] for v in run)
        middle = spots[len(spots) // 2]
        for c in [middle, *sorted(spots, key=lambda s: abs(s - middle))]:
            moved = _place(order, ranks, x, widths, gap, run, c, held)
            if moved is not None:
                for v, p in moved.items():
                    x[v] = p
                held.update(run)
                break


def _place(order, ranks, x, widths, gap: float, run: list[int], c: float, held: set[int]) -> dict | None:
    """New positions for the ranks of `run` with every member at `c` and every held box unmoved, or
    None where the ranks cannot give that."""
    moved: dict[int, float] = {}
    for r in sorted({ranks[v] for v in run}):
        layer = order[r]
        desired = [c if v in run else x[v] for v in layer]
        weights = [1e6 if v in run or v in held else 1.0 for v in layer]
        placed = _pool(desired, weights, [widths[v] for v in layer], gap)
        for v, p, d, w in zip(layer, placed, desired, weights):
            if w > 1 and abs(p - d) > 0.5:
                return None
            moved[v] = p
    return moved


def _spread_ports(routes: list[list[Point]], edges: list[tuple[int, int]], sizes) -> None:
    """Edges leaving (entering) one box start (end) side by side along its bottom (top), in the
    order of where they go (come from), so that they do not cross at the box."""
    for end, near in ((0, 1), (-1, -2)):
        ports: dict[int, list[int]] = {}
        for i, edge in enumerate(edges):
            ports.setdefault(edge[end], []).append(i)
        for box, mine in ports.items():
            if len(mine) < 2:
                continue
            mine.sort(key=lambda i: routes[i][near][0])
            step = min(18.0, sizes[box][0] * 0.9 / len(mine))
            for k, i in enumerate(mine):
                px, py = routes[i][end]
                routes[i][end] = (px + (k - (len(mine) - 1) / 2) * step, py)
