"""The shared resume rule: same settings and data resume; a change that matters stops, by name."""

import numpy as np
import pytest
from pydantic import Field

from eoforge.core.config import RunConfig
from eoforge.core.errors import ConfigError
from eoforge.core.resume import (
    FINGERPRINT,
    check_resume,
    data_fingerprint,
    flatten,
    record_fingerprint,
)


class Toy(RunConfig):
    steps: int = 10
    batch_size: int = 4
    nested: dict = Field(default_factory=lambda: {"ratio": 0.5})


OPTIONS = {"steps": "--steps", "batch_size": "--batch-size", "nested.ratio": "--ratio"}


def test_fingerprint_tells_data_apart_by_content_shape_and_labels():
    rng = np.random.default_rng(0)
    a = rng.random((100, 8, 8), dtype=np.float32)
    assert data_fingerprint(a) == data_fingerprint(a.copy())
    b = a.copy()
    b[99, 0, 0] += 1  # the last item is always hashed
    assert data_fingerprint(a)["sha256"] != data_fingerprint(b)["sha256"]
    assert data_fingerprint(a)["sha256"] != data_fingerprint(a[:99])["sha256"]
    assert data_fingerprint(a)["sha256"] != data_fingerprint(a, np.arange(100))["sha256"]
    assert data_fingerprint(a)["shape"] == [100, 8, 8]


def test_new_or_empty_folder_is_a_fresh_run(tmp_path):
    assert check_resume(tmp_path / "new", Toy()) is False
    (tmp_path / "empty").mkdir()
    assert check_resume(tmp_path / "empty", Toy()) is False


def test_same_settings_resume_and_allowed_changes_pass(tmp_path):
    data = data_fingerprint(np.zeros((5, 2)))
    record_fingerprint(tmp_path, Toy(), data)
    assert (tmp_path / FINGERPRINT).is_file()
    assert check_resume(tmp_path, Toy(), data, allowed=("steps",), options=OPTIONS)
    assert check_resume(tmp_path, Toy(steps=99), data, allowed=("steps",), options=OPTIONS)


def test_changed_settings_and_data_are_named_in_one_line(tmp_path):
    record_fingerprint(tmp_path, Toy(), data_fingerprint(np.zeros((5, 2))))
    other = Toy(batch_size=8, nested={"ratio": 0.25}, steps=20)
    with pytest.raises(ConfigError) as err:
        check_resume(tmp_path, other, data_fingerprint(np.ones((5, 2))), allowed=("steps",),
                     options=OPTIONS)  # fmt: skip
    msg = str(err.value)
    assert "\n" not in msg
    assert "--batch-size 4 -> 8" in msg and "--ratio 0.5 -> 0.25" in msg
    assert "training data" in msg and "new --out" in msg and "Only --steps may change" in msg
    assert "--steps 10" not in msg  # an allowed change is not reported


def test_folder_that_is_not_a_run_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not an eoforge run folder"):
        check_resume(tmp_path, Toy())


def test_legacy_run_without_fingerprint_is_compared_on_its_config(tmp_path):
    Toy().save(tmp_path / "config.yaml")
    assert check_resume(tmp_path, Toy(), data_fingerprint(np.zeros(3)), options=OPTIONS)
    with pytest.raises(ConfigError, match="--batch-size"):
        check_resume(tmp_path, Toy(batch_size=2), options=OPTIONS)


def test_flatten_nested_settings():
    assert flatten({"a": 1, "b": {"c": 2, "d": {"e": 3}}}) == {"a": 1, "b.c": 2, "b.d.e": 3}
