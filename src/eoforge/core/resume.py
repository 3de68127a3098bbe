"""One resume rule for every trainer: a run folder remembers what it was started with.

A training run writes ``RUN/fingerprint.json`` before its first step: every setting of its
configuration (nested keys flattened, ``curation.ratio``) and a fingerprint of its training data
(shape, dtype and a hash of evenly spaced items, so a store regenerated with another seed, image
size or length is told apart from the same data moved elsewhere). Running the same command again
on the same ``--out`` resumes; a run with a change that matters stops with one line that names the
changed options, old and new values, and the two ways out (the run's own settings, or a new
``--out``). Changes that cannot alter what was already trained (more steps or epochs, logging
periods, the device) are listed per trainer as ``allowed`` and are accepted.

Folders written before fingerprints existed are compared on their ``config.yaml`` only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from eoforge.core.atomic import atomic_write_json
from eoforge.core.config import RunConfig
from eoforge.core.errors import ConfigError

FINGERPRINT = "fingerprint.json"

#: Items hashed by :func:`data_fingerprint` (evenly spaced over the first axis).
HASHED_ITEMS = 64


def data_fingerprint(images: Any, labels: Any = None) -> dict[str, Any]:
    """Shape, dtype and a SHA-256 of up to :data:`HASHED_ITEMS` evenly spaced items of ``images``.

    Reads only those items, so a lazily loaded archive (Zarr, memory map) is not read whole.

    Args:
        images: Array-like with items along the first axis (numpy, torch, zarr).
        labels: Optional per-item labels, hashed whole.

    Returns:
        ``{"shape": [...], "dtype": str, "sha256": hex}``.
    """
    shape = tuple(int(s) for s in images.shape)
    n = shape[0] if shape else 0
    digest = hashlib.sha256(repr(shape).encode())
    for i in sorted({int(i) for i in np.linspace(0, max(n - 1, 0), min(n, HASHED_ITEMS))}):
        item = images[i]
        item = item.detach().cpu().numpy() if hasattr(item, "detach") else np.asarray(item)
        digest.update(np.ascontiguousarray(item).tobytes())
    if labels is not None:
        digest.update(np.ascontiguousarray(np.asarray(labels)).tobytes())
    return {"shape": list(shape), "dtype": str(images.dtype), "sha256": digest.hexdigest()}


def flatten(settings: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"curation": {"ratio": 0.5}}`` -> ``{"curation.ratio": 0.5}``."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def option_name(key: str, options: Mapping[str, str]) -> str:
    """The command-line option of a config key (``curation.ratio`` -> ``--ratio``)."""
    if key in options:
        return options[key]
    return f"config key {key!r}"


def _describe_data(data: Mapping[str, Any] | None) -> str:
    if not data:
        return "unknown"
    shape = "x".join(str(s) for s in data.get("shape", []))
    return f"{shape} {data.get('dtype', '')} #{str(data.get('sha256', ''))[:8]}"


def changed_settings(
    old: Mapping[str, Any], new: Mapping[str, Any], allowed: Iterable[str]
) -> list[str]:
    """Flattened keys whose values differ between ``old`` and ``new``, minus ``allowed`` ones."""
    allowed = set(allowed)
    a, b = flatten(old), flatten(new)
    return sorted(
        k for k in set(a) | set(b) if k not in allowed and k.split(".")[0] not in allowed
        and a.get(k) != b.get(k)
    )  # fmt: skip


def check_resume(
    run_path: str | Path,
    config: RunConfig,
    data: Mapping[str, Any] | None = None,
    *,
    allowed: Iterable[str] = (),
    options: Mapping[str, str] | None = None,
) -> bool:
    """Whether ``run_path`` holds a run of these settings and data; stop if it holds another.

    Args:
        run_path: The run folder (``--out``).
        config: The settings of the new command.
        data: :func:`data_fingerprint` of its training data (``None`` when the data are simulated
            from the settings).
        allowed: Config keys that may change on resume (top-level names cover nested keys).
        options: Command-line option of each config key, for the message (``{"num_workers":
            "--workers"}``); keys without one are named as config keys.

    Returns:
        ``True`` if the folder holds an earlier run of the same settings (resume it), ``False``
        if the folder is new or empty.

    Raises:
        ConfigError: The folder holds a run with other settings or data, or something that is not
            an eoforge run.
    """
    path = Path(run_path)
    options = options or {}
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return False
    if not path.is_dir():
        raise ConfigError(f"--out {str(path)!r} is a file; give a folder for the run.")
    record = path / FINGERPRINT
    if record.is_file():
        saved = json.loads(record.read_text())
        old_settings, old_data = saved.get("settings", {}), saved.get("data")
    elif (path / "config.yaml").is_file():  # a run from before fingerprints
        old_settings, old_data = type(config).load(path / "config.yaml").to_dict(), data
    else:
        raise ConfigError(
            f"--out {str(path)!r} exists and is not an eoforge run folder; give a new --out."
        )
    changes = [
        f"{option_name(k, options)} {flatten(old_settings).get(k)!r} -> "
        f"{flatten(config.to_dict()).get(k)!r}"
        for k in changed_settings(old_settings, config.to_dict(), allowed)
    ]
    if data is not None and old_data is not None and dict(old_data) != dict(data):
        changes.append(f"training data {_describe_data(old_data)} -> {_describe_data(data)}")
    if changes:
        may = sorted({option_name(k, options) for k in allowed if k in options})
        raise ConfigError(
            f"cannot resume the run in {str(path)!r}: it was started with other settings "
            f"({'; '.join(changes)}). Rerun with the run's own settings to resume it, or give a "
            f"new --out to start another run."
            + (f" Only {', '.join(may)} may change on resume." if may else "")
        )
    return True


def record_fingerprint(
    run_path: str | Path, config: RunConfig, data: Mapping[str, Any] | None = None
) -> Path:
    """Write ``RUN/fingerprint.json`` (settings and data fingerprint) atomically."""
    return atomic_write_json(
        Path(run_path) / FINGERPRINT, {"settings": config.to_dict(), "data": data}
    )
