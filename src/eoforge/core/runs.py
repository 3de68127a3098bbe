"""Run folders: one folder per run with a fixed layout, every file written atomically.

Layout::

    RUN/
      config.yaml      the configuration used (RunConfig.save)
      metrics.json     numbers worth comparing between runs
      manifest.json    eoforge version, timings, created files
      figures/         PNG figures
      checkpoints/     training checkpoints (resume from the last one)
      report.html      self-contained HTML report (core.report)
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import time
from pathlib import Path
from typing import Any

from eoforge import __version__
from eoforge.core.atomic import atomic_write_bytes, atomic_write_json
from eoforge.core.config import RunConfig
from eoforge.core.report import figure_png


class RunDir:
    """A run folder. Creating one makes the folder; ``figures/`` appears with the first figure.

    Args:
        path: Folder of the run (created if missing).
        config: Configuration to save as ``config.yaml`` right away.
    """

    def __init__(self, path: str | os.PathLike[str], config: RunConfig | None = None) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._started = time.perf_counter()
        self._files: list[str] = []
        if config is not None:
            self.save_config(config)

    @property
    def figures(self) -> Path:
        """Folder for figures (created by :meth:`save_figure`)."""
        return self.path / "figures"

    @property
    def checkpoints(self) -> Path:
        """Folder for checkpoints (created on first access)."""
        folder = self.path / "checkpoints"
        folder.mkdir(exist_ok=True)
        return folder

    def file(self, name: str) -> Path:
        """Path of a file inside the run (records it in the manifest)."""
        if name not in self._files:
            self._files.append(name)
        return self.path / name

    def save_config(self, config: RunConfig) -> Path:
        """Write ``config.yaml``."""
        return config.save(self.file("config.yaml"))

    def save_metrics(self, metrics: dict[str, Any]) -> Path:
        """Merge ``metrics`` into ``metrics.json`` (existing keys are overwritten)."""
        import json

        target = self.file("metrics.json")
        current: dict[str, Any] = json.loads(target.read_text()) if target.exists() else {}
        current.update(metrics)
        return atomic_write_json(target, current)

    def save_figure(self, fig: Any, name: str, *, dpi: int = 110) -> Path:
        """Save a matplotlib figure as ``figures/NAME.png`` atomically and close it."""
        name = name if name.endswith(".png") else f"{name}.png"
        return atomic_write_bytes(self.file(f"figures/{name}"), figure_png(fig, dpi=dpi))

    def write_manifest(self, **extra: Any) -> Path:
        """Write ``manifest.json``: version, platform, wall time and the files written."""
        manifest = {
            "eoforge_version": __version__,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "wall_seconds": round(time.perf_counter() - self._started, 3),
            "files": sorted(set(self._files) | {"manifest.json"}),
            **extra,
        }
        return atomic_write_json(self.path / "manifest.json", manifest)
