"""Checks of the settings of ``eoforge extremes ...``, with errors naming the options as typed.

The jobs call these before they read a file or make a run folder, so a bad value stops with one
line such as ``--n-sim must be >= 2 ...`` (exit code 2 from the CLI) instead of an error deep in
the pipeline or inside every region of ``summary.json``. :func:`check_against_data` runs the
checks that need the data (years in the file, usable sites) once a file is read, and
:func:`as_options` rewrites the few library parameter names that can still reach the user
(``min_common_years``) into the option the user typed.

Sites that cannot be compared (pairs sharing fewer than ``--min-common-years`` years) are masked
by the pipeline, not refused: see :func:`~eoforge.extremes.regionalise.usable_sites`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from eoforge.core.errors import InputError
from eoforge.extremes.dissimilarity.checks import METHODS
from eoforge.extremes.regionalise import usable_sites

RULES = ("mean-dissimilarity", "co-association")
MIN_YEARS = 3  # the dissimilarities need 3 common years per pair of sites
MIN_N_SIM = 2  # H1 needs the spread of at least 2 simulated regions (H&W recommend 500)
RESOLUTION_RANGE = (0.25, 60.0)  # degrees: finer makes ~10^6 cells per file, coarser no grid


def _int(option: str, value: object, minimum: int, fix: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(f"{option} must be an integer >= {minimum}, got {value!r}; {fix}")


def check_choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise InputError(f"{option} must be one of {', '.join(choices)}; got {value!r}.")


def check_regions(
    *,
    k: int | str,
    k_min: int,
    k_max: int,
    min_years: int,
    method: str = "rfa-madogram",
    rule: str | None = None,
    n_sim: int | None = None,
    seed: int = 0,
    min_common_years: int | None = None,
) -> None:
    """Check the options shared by ``cluster``, ``consensus`` and ``attribute``.

    Raises:
        InputError: One line naming the first bad option (``--k``, ``--k-min``, ``--k-max``,
            ``--min-years``, ``--min-common-years``, ``--n-sim``, ``--method``, ``--rule``,
            ``--seed``) and the fix.
    """
    check_choice("--method", method, METHODS)
    if rule is not None:
        check_choice("--rule", rule, RULES)
    if k != "auto":
        _int("--k", k, 1, "pass a number of regions, or --k auto to choose it by silhouette.")
    _int("--k-min", k_min, 2, "the silhouette needs at least 2 regions (default 2).")
    if isinstance(k_max, bool) or not isinstance(k_max, int | np.integer) or k_max < k_min:
        raise InputError(
            f"--k-max must be an integer >= --k-min ({k_min}), got {k_max!r}; "
            "pass e.g. --k-min 2 --k-max 10."
        )
    _int("--min-years", min_years, MIN_YEARS, "pass the minimum record length (default 10).")
    if min_common_years is not None:
        _int(
            "--min-common-years", min_common_years, MIN_YEARS,
            "pass the years every pair of sites must share (default: --min-years).",
        )  # fmt: skip
    if n_sim is not None:
        _int("--n-sim", n_sim, MIN_N_SIM, "Hosking & Wallis recommend 500 (the default).")
    _int("--seed", seed, 0, "pass a non-negative integer.")


def check_simulate(*, models: int, years: int, resolution: float, seed: int = 0) -> None:
    """Check the options of ``eoforge extremes simulate``."""
    _int("--models", models, 1, "pass the number of models per experiment (default 6).")
    _int("--years", years, 10, "pass at least 10 years of annual maxima (default 60).")
    lo, hi = RESOLUTION_RANGE
    if not lo <= float(resolution) <= hi:
        raise InputError(
            f"--resolution must be in [{lo:g}, {hi:g}] degrees, got {resolution!r}; "
            "pass e.g. --resolution 10."
        )
    _int("--seed", seed, 0, "pass a non-negative integer.")


def check_against_data(
    maxima: np.ndarray,
    path: str,
    *,
    k: int | str,
    k_min: int,
    k_max: int,
    min_years: int,
    min_common_years: int | None = None,
) -> int:
    """Check ``--min-years`` and ``--k``/``--k-min`` against one file's (n_years, n_sites) maxima.

    The usable sites are those :func:`~eoforge.extremes.regionalise.usable_sites` keeps (sites
    sharing fewer than ``--min-common-years`` years with the others are masked, not refused).

    Returns:
        The number of usable sites.

    Raises:
        InputError: One line naming the file, the option and a value that works.
    """
    n_years = int(maxima.shape[0])
    for option, value in (("--min-years", min_years), ("--min-common-years", min_common_years)):
        if value is not None and n_years < value:
            raise InputError(
                f"{option} {value} is more than the {n_years} years in {path!r}; pass "
                f"{option} {max(n_years, MIN_YEARS)} or less, or a longer record."
            )
    common = min_years if min_common_years is None else min_common_years
    n = int(usable_sites(maxima, min_years, common).sum())
    if n < 3:
        raise InputError(
            f"only {n} site(s) of {path!r} have --min-years {min_years} or more finite, "
            f"non-constant maxima and share --min-common-years {common} years with each other; "
            "clustering needs 3 or more: lower --min-years / --min-common-years or pass more sites."
        )
    if k != "auto" and int(k) >= n:
        raise InputError(
            f"--k {k} is too large for the {n} usable sites of {path!r}; pass --k {n - 1} or less."
        )
    if k == "auto" and k_min > n - 1:
        raise InputError(
            f"--k-min {k_min} is too large for the {n} usable sites of {path!r}; "
            f"pass --k-min {min(2, n - 1)} to --k-max {n - 1}."
        )
    return n


_PARAMETER_OPTIONS = {"min_common_years": "--min-common-years", "min_years": "--min-years"}


@contextmanager
def as_options() -> Iterator[None]:
    """Re-raise an :class:`InputError` whose message names library parameters with the options.

    ``min_common_years=10`` becomes ``--min-common-years 10``, so a message that only the data can
    trigger (pairs of sites sharing too few years) names what the user typed.
    """
    try:
        yield
    except InputError as err:
        text = str(err)
        for name, option in _PARAMETER_OPTIONS.items():
            text = re.sub(rf"\b{name}=", f"{option} ", text)
            text = re.sub(rf"\b{name}\b", option, text)
        if text == str(err):
            raise
        raise type(err)(text) from None
