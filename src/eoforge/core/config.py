"""Run configurations: frozen pydantic models, loadable from YAML and saved beside every result.

Each capability subclasses :class:`RunConfig` with its own fields. Unknown keys are rejected, so a
typo in a YAML file is an error that names the key, not a silently ignored setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from eoforge.core.atomic import _json_safe, atomic_write_text
from eoforge.core.errors import ConfigError, DataNotFoundError


class RunConfig(BaseModel):
    """Base class of every run configuration (frozen, strict about unknown keys)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON/YAML-safe dictionary (paths as strings, tuples as lists)."""
        return _json_safe(self.model_dump(mode="json"))

    def to_yaml(self) -> str:
        """YAML text of the configuration, with the class name as a header comment."""
        body = yaml.safe_dump(self.to_dict(), sort_keys=False)
        return f"# {type(self).__module__}.{type(self).__name__}\n{body}"

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the configuration as YAML atomically."""
        return atomic_write_text(path, self.to_yaml())

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, source: str = "config", names: Mapping[str, str] | None = None
    ) -> Self:
        """Validate a dictionary, turning pydantic errors into one readable :class:`ConfigError`.

        Args:
            data: The settings.
            source: Where they come from (named in the message).
            names: Command-line option of each key (``{"patch": "--size"}``): a bad value given
                on the command line is then named as the user typed it.
        """
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            problems = "; ".join(_describe(cls, e, names or {}) for e in err.errors())
            raise ConfigError(f"invalid {cls.__name__} in {source}: {problems}.") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Self:
        """Load and validate a YAML (or JSON) configuration file."""
        p = Path(path)
        if not p.is_file():
            raise DataNotFoundError(f"config file {str(p)!r} does not exist; check the path.")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {str(p)!r} is not valid YAML: {err}") from None
        if not isinstance(data, dict):
            raise ConfigError(
                f"config file {str(p)!r} must hold a mapping of keys to values, got {type(data).__name__}."
            )
        return cls.from_dict(data, source=str(p))

    def updated(self, *, names: Mapping[str, str] | None = None, **changes: Any) -> Self:
        """A validated copy with some fields changed (e.g. from command-line overrides).

        ``names`` maps keys to the options they came from, for the error messages.
        """
        given = {k: v for k, v in changes.items() if v is not None}
        merged = {**self.model_dump(), **given}
        source = "the command line" if names else "overrides"
        return type(self).from_dict(merged, source=source, names=names)


def _describe(cls: type[BaseModel], error: Any, names: Mapping[str, str]) -> str:
    """One pydantic error as ``key: message``; an unknown key comes with its nearest valid keys."""
    import difflib

    loc = [str(p) for p in error["loc"]]
    key = ".".join(loc) or "<root>"
    key = names.get(key, key)
    if error["type"] != "extra_forbidden":
        return f"{key}: {error['msg']}"
    model: Any = cls
    for part in loc[:-1]:  # the model the unknown key was given to
        field = getattr(model, "model_fields", {}).get(part)
        model = getattr(field, "annotation", None)
    valid = sorted(getattr(model, "model_fields", {}) or {})
    near = difflib.get_close_matches(loc[-1], valid, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(near)}?" if near else "check the spelling"
    return f"{key}: unknown key ({hint})"
