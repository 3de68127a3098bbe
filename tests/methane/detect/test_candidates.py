"""The candidate-plume rule: 8-connected components with a minimum area, then the context veto.

Checked against an independent flood fill, a planted veto, and the renumbering ``detect`` uses.
"""

from collections import deque

import numpy as np
import pytest

from eoforge.methane.detect.candidates import (
    candidate_plumes,
    components,
    drop_vetoed,
    renumber,
)


def _flood_fill(binary: np.ndarray) -> list[set[tuple[int, int]]]:
    """8-connected components as pixel sets, by breadth-first search (no scipy)."""
    seen, out = np.zeros_like(binary, dtype=bool), []
    h, w = binary.shape
    for r0, c0 in zip(*np.nonzero(binary), strict=True):
        if seen[r0, c0]:
            continue
        comp, queue = set(), deque([(int(r0), int(c0))])
        seen[r0, c0] = True
        while queue:
            r, c = queue.popleft()
            comp.add((r, c))
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    rr, cc = r + dr, c + dc
                    if 0 <= rr < h and 0 <= cc < w and binary[rr, cc] and not seen[rr, cc]:
                        seen[rr, cc] = True
                        queue.append((rr, cc))
        out.append(comp)
    return out


def test_components_drop_small_blobs_and_use_8_connectivity():
    b = np.zeros((10, 10), dtype=bool)
    b[1, 1] = b[2, 2] = b[3, 3] = True  # diagonal: one 8-connected component of 3 px
    b[7:9, 7:9] = True  # 4 px
    b[0, 9] = True  # 1 px, dropped
    labels, n = components(b, min_area_px=3)
    assert n == 2 and labels[0, 9] == 0 and labels[1, 1] == labels[3, 3] > 0


@pytest.mark.parametrize("min_area", [1, 3, 6])
def test_candidates_match_a_flood_fill(min_area):
    prob = np.random.default_rng(4).random((40, 50))
    labels, n = candidate_plumes(prob, 0.8, min_area)
    want = [c for c in _flood_fill(prob > 0.8) if len(c) >= min_area]
    got = [set(zip(*np.nonzero(labels == k), strict=True)) for k in np.unique(labels) if k > 0]
    assert n == len(want) == len(got) > 0
    assert sorted(map(sorted, got)) == sorted(map(sorted, want))


def test_the_veto_drops_only_candidates_that_changed_against_every_date():
    prob = np.zeros((20, 20))
    prob[2:5, 2:5] = prob[12:15, 12:15] = 0.9  # two 9-pixel candidates
    changed = np.zeros((20, 20), dtype=np.float32)
    changed[2:5, 2:5] = 0.2  # the first one's NIR changed by 20 %
    labels, n = candidate_plumes(prob, 0.5, 4, [[changed]], 0.05)
    assert n == 1 and labels[3, 3] == 0 and labels[13, 13] > 0
    # against a second date where nothing changed it stays (veto against every date)
    same = np.zeros_like(changed)
    _, n_two = candidate_plumes(prob, 0.5, 4, [[changed], [same]], 0.05)
    assert n_two == 2
    # drop_vetoed counts what it drops
    raw, n_raw = components(prob > 0.5, 4)
    assert drop_vetoed(raw, n_raw, [[changed]], 0.05) == (1, 1) and raw[3, 3] == 0


def test_renumber_keeps_the_order_and_closes_the_gaps():
    labels = np.array([[0, 5, 0, 2], [7, 0, 0, 2]], dtype=np.int32)
    assert renumber(labels).tolist() == [[0, 2, 0, 1], [3, 0, 0, 1]]
    assert renumber(np.zeros((2, 2), np.int32)).tolist() == [[0, 0], [0, 0]]
