"""Compiled (numba) BUILD and swap kernels of :class:`~eoforge.extremes.clustering.kmedoids.KMedoids`.

The public estimator, its input checks and the k-medoids++ seeding live in
:mod:`eoforge.extremes.clustering.kmedoids`, whose docstring derives the swap formulas; this module holds only
the hot loops, which read the (n, n) matrix ``D`` row by row (it is symmetric):

- :func:`build_init`: PAM's greedy BUILD (least row sum first, then the largest gain
  sum_o max(d_n(o) - d(o, c), 0) for each next medoid).
- The caches of every site o: nearest medoid slot n(o) at d_n(o), second nearest s(o) at d_s(o),
  and the removal losses DeltaL_i = sum_{o: n(o)=i} (d_s(o) - d_n(o)) (``_offer``,
  ``_nearest_two``, ``_update_after_swap``, ``_removal_loss``).
- ``_swap_deltas``: DeltaTD_i of one candidate for all k slots in O(n).
- :func:`fasterpam_swaps` (eager) and :func:`pam_swaps` (steepest descent, FastPAM1): the swap
  phases, in place on ``medoids``; both return (labels, TD, passes, swaps, converged).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

Arr = np.ndarray
"""Arrays of the kernels: D (n, n) float64, medoids (k,) int64, per-site caches (n,)."""

SwapResult = tuple[np.ndarray, float, int, int, bool]
"""What a swap phase returns: (nearest medoid slot per site, TD, passes, swaps, converged)."""


@njit(parallel=True, cache=True, fastmath=True)  # finite inputs: reassociated (SIMD) sums
def build_init(D: np.ndarray, k: int) -> np.ndarray:  # pragma: no cover - compiled
    """Greedy BUILD: first the site with the least row sum, then the site with the largest gain."""
    n = D.shape[0]
    medoids = np.empty(k, np.int64)
    is_med = np.zeros(n, np.bool_)
    score = np.empty(n)
    for c in prange(n):
        row = D[c]
        s = 0.0
        for o in range(n):
            s += row[o]
        score[c] = s
    first = np.argmin(score)
    medoids[0] = first
    is_med[first] = True
    dnear = np.empty(n)
    for o in range(n):
        dnear[o] = D[first, o]
    for j in range(1, k):
        for c in prange(n):
            if is_med[c]:
                score[c] = -1.0
                continue
            row = D[c]
            g = 0.0
            for o in range(n):
                g += max(dnear[o] - row[o], 0.0)
            score[c] = g
        best = np.argmax(score)
        medoids[j] = best
        is_med[best] = True
        for o in range(n):
            d = D[best, o]
            if d < dnear[o]:
                dnear[o] = d
    return medoids


@njit(cache=True)
def _offer(  # pragma: no cover - compiled
    o: int, j: int | np.integer, d: float, nearest: Arr, second: Arr, dnear: Arr, dsec: Arr
) -> None:
    """Offer medoid slot ``j`` at distance ``d`` to site ``o``'s nearest / second caches."""
    if d < dnear[o]:
        second[o] = nearest[o]
        dsec[o] = dnear[o]
        nearest[o] = j
        dnear[o] = d
    elif d < dsec[o]:
        second[o] = j
        dsec[o] = d


@njit(cache=True)
def _nearest_two(  # pragma: no cover - compiled
    D: Arr, medoids: Arr, nearest: Arr, second: Arr, dnear: Arr, dsec: Arr
) -> None:
    """Fill the nearest / second-nearest medoid caches from scratch (O(nk))."""
    n = D.shape[0]
    for o in range(n):
        nearest[o] = -1
        second[o] = -1
        dnear[o] = np.inf
        dsec[o] = np.inf
    for j in range(medoids.size):
        row = D[medoids[j]]
        for o in range(n):
            _offer(o, j, row[o], nearest, second, dnear, dsec)


@njit(cache=True)
def _rescan_second(  # pragma: no cover - compiled
    D: Arr, medoids: Arr, o: int, nearest: Arr, second: Arr, dsec: Arr
) -> None:
    best = np.inf
    best_j = -1
    for j in range(medoids.size):
        if j == nearest[o]:
            continue
        d = D[medoids[j], o]
        if d < best:
            best = d
            best_j = j
    second[o] = best_j
    dsec[o] = best


@njit(cache=True)
def _update_after_swap(  # pragma: no cover - compiled
    D: Arr, medoids: Arr, j: int | np.integer, nearest: Arr, second: Arr, dnear: Arr, dsec: Arr
) -> None:
    """Update the caches after medoid slot ``j`` received a new site (Algorithm 4)."""
    row = D[medoids[j]]
    for o in range(D.shape[0]):
        d = row[o]
        if nearest[o] == j:
            if d <= dsec[o]:
                dnear[o] = d  # the new medoid is still the nearest; second unchanged
            else:
                nearest[o] = second[o]
                dnear[o] = dsec[o]
                _rescan_second(D, medoids, o, nearest, second, dsec)
        elif second[o] == j:
            if d < dnear[o]:
                second[o] = nearest[o]
                dsec[o] = dnear[o]
                nearest[o] = j
                dnear[o] = d
            elif d <= dsec[o]:
                dsec[o] = d  # every other medoid is at least as far as the old second
            else:
                _rescan_second(D, medoids, o, nearest, second, dsec)
        else:
            _offer(o, j, d, nearest, second, dnear, dsec)


@njit(cache=True)
def _removal_loss(  # pragma: no cover - compiled
    nearest: Arr, dnear: Arr, dsec: Arr, loss: Arr
) -> None:
    loss[:] = 0.0
    for o in range(nearest.size):
        loss[nearest[o]] += dsec[o] - dnear[o]


@njit(cache=True)
def _swap_deltas(  # pragma: no cover - compiled
    row: Arr, nearest: Arr, dnear: Arr, dsec: Arr, loss: Arr, delta: Arr
) -> float:
    """DeltaTD_i for replacing each medoid slot i by the candidate whose row is ``row`` (O(n)).

    Fills ``delta`` with DeltaL_i + corrections and returns the shared term DeltaTD*; the change
    of TD for slot i is ``delta[i] + shared``.
    """
    for j in range(loss.size):
        delta[j] = loss[j]
    shared = 0.0
    for o in range(row.size):
        d = row[o]
        dn = dnear[o]
        if d < dn:
            shared += d - dn
            delta[nearest[o]] += dn - dsec[o]
        elif d < dsec[o]:
            delta[nearest[o]] += d - dsec[o]
    return shared


@njit(cache=True)
def _init_state(  # pragma: no cover - compiled
    D: Arr, medoids: Arr
) -> tuple[Arr, Arr, Arr, Arr, Arr, Arr]:
    n = D.shape[0]
    nearest = np.empty(n, np.int64)
    second = np.empty(n, np.int64)
    dnear = np.empty(n)
    dsec = np.empty(n)
    _nearest_two(D, medoids, nearest, second, dnear, dsec)
    is_med = np.zeros(n, np.bool_)
    for j in range(medoids.size):
        is_med[medoids[j]] = True
    loss = np.empty(medoids.size)
    _removal_loss(nearest, dnear, dsec, loss)
    return nearest, second, dnear, dsec, is_med, loss


@njit(cache=True)
def _apply_swap(  # pragma: no cover - compiled
    D: Arr,
    medoids: Arr,
    j: int | np.integer,
    c: int | np.integer,
    is_med: Arr,
    nearest: Arr,
    second: Arr,
    dnear: Arr,
    dsec: Arr,
    loss: Arr,
) -> float:
    is_med[medoids[j]] = False
    medoids[j] = c
    is_med[c] = True
    _update_after_swap(D, medoids, j, nearest, second, dnear, dsec)
    _removal_loss(nearest, dnear, dsec, loss)
    return dnear.sum()


@njit(cache=True)
def _finish(  # pragma: no cover - compiled
    D: Arr, medoids: Arr, nearest: Arr, dnear: Arr
) -> float:
    for j in range(medoids.size):  # a medoid always belongs to its own cluster (duplicate sites)
        nearest[medoids[j]] = j
        dnear[medoids[j]] = D[medoids[j], medoids[j]]
    return dnear.sum()


@njit(cache=True)
def fasterpam_swaps(  # pragma: no cover - compiled
    D: Arr, medoids: Arr, order: Arr, max_iter: int, rel_tol: float
) -> SwapResult:
    """Eager FasterPAM swap phase (in place on ``medoids``); returns labels, TD and counters."""
    n = D.shape[0]
    nearest, second, dnear, dsec, is_med, loss = _init_state(D, medoids)
    td = dnear.sum()
    delta = np.empty(medoids.size)
    n_iter = 0
    n_swaps = 0
    since_swap = 0
    visits = 0
    converged = False
    while True:
        if visits % n == 0:
            if n_iter >= max_iter:
                break
            n_iter += 1
        c = order[visits % n]
        visits += 1
        since_swap += 1
        if not is_med[c]:
            shared = _swap_deltas(D[c], nearest, dnear, dsec, loss, delta)
            best = np.argmin(delta)
            if delta[best] + shared < -rel_tol * td:
                td = _apply_swap(D, medoids, best, c, is_med, nearest, second, dnear, dsec, loss)
                n_swaps += 1
                since_swap = 0
        if since_swap >= n:
            converged = True
            break
    return nearest, _finish(D, medoids, nearest, dnear), n_iter, n_swaps, converged


@njit(parallel=True, cache=True)
def pam_swaps(  # pragma: no cover - compiled
    D: Arr, medoids: Arr, max_iter: int, rel_tol: float
) -> SwapResult:
    """Steepest-descent swap phase (PAM's SWAP, evaluated as FastPAM1 in O(n) per candidate)."""
    n = D.shape[0]
    k = medoids.size
    nearest, second, dnear, dsec, is_med, loss = _init_state(D, medoids)
    td = dnear.sum()
    best_change = np.empty(n)
    best_slot = np.empty(n, np.int64)
    n_iter = 0
    converged = False
    while n_iter < max_iter:
        n_iter += 1
        for c in prange(n):
            if is_med[c]:
                best_change[c] = np.inf
                best_slot[c] = -1
                continue
            delta = np.empty(k)
            shared = _swap_deltas(D[c], nearest, dnear, dsec, loss, delta)
            j = np.argmin(delta)
            best_change[c] = delta[j] + shared
            best_slot[c] = j
        cand = np.argmin(best_change)
        if not best_change[cand] < -rel_tol * td:
            converged = True
            break
        td = _apply_swap(
            D, medoids, best_slot[cand], cand, is_med, nearest, second, dnear, dsec, loss
        )
    n_swaps = n_iter - 1 if converged else n_iter
    return nearest, _finish(D, medoids, nearest, dnear), n_iter, n_swaps, converged
