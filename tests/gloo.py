"""Multi-process gloo tests on CPU: retry the one failure that is gloo's, not ours."""

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def retry_gloo_mesh(run: Callable[[int], T], attempts: int = 3) -> T:
    """Return ``run(attempt)``, retried when gloo's own TCP mesh set-up fails.

    On a loaded CI machine gloo now and then fails to connect its ranks ("connectFullMesh
    failed ... Connection closed by peer") before any eoforge code runs. ``run`` gets the attempt
    number, to use a fresh rendezvous/output folder; any other error is raised at once.
    """
    for attempt in range(attempts):
        try:
            return run(attempt)
        except Exception as err:  # spawn wrappers re-raise the worker's error as text
            if "connectFullMesh" not in str(err) or attempt == attempts - 1:
                raise
    raise AssertionError("attempts must be >= 1")
