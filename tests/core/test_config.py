from pathlib import Path

import pytest

from eoforge.core.config import RunConfig
from eoforge.core.errors import ConfigError, DataNotFoundError


class ToyConfig(RunConfig):
    n_clusters: int = 4
    method: str = "rfa-madogram"
    k_range: tuple[int, int] = (2, 10)
    threshold: float = 0.5
    out: Path = Path("runs/x")


def test_yaml_round_trip(tmp_path):
    cfg = ToyConfig(seed=3, n_clusters=7, k_range=(3, 5), threshold=0.125, out=tmp_path / "o")
    path = cfg.save(tmp_path / "config.yaml")
    loaded = ToyConfig.load(path)
    assert loaded == cfg
    assert loaded.k_range == (3, 5)
    assert "# tests.core.test_config.ToyConfig" in path.read_text().splitlines()[0]


def test_unknown_key_is_named(tmp_path):
    (tmp_path / "c.yaml").write_text("n_clustres: 3\n")
    with pytest.raises(ConfigError, match="n_clustres"):
        ToyConfig.load(tmp_path / "c.yaml")


def test_wrong_type_is_named(tmp_path):
    (tmp_path / "c.yaml").write_text("n_clusters: many\n")
    with pytest.raises(ConfigError, match="n_clusters"):
        ToyConfig.load(tmp_path / "c.yaml")


def test_missing_and_non_mapping_files(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        ToyConfig.load(tmp_path / "nope.yaml")
    (tmp_path / "l.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        ToyConfig.load(tmp_path / "l.yaml")


def test_frozen_and_updated():
    cfg = ToyConfig()
    with pytest.raises(Exception, match="frozen"):
        cfg.n_clusters = 3  # type: ignore[misc]
    new = cfg.updated(n_clusters=5, method=None)
    assert new.n_clusters == 5 and new.method == cfg.method
    with pytest.raises(ConfigError, match="threshold"):
        cfg.updated(threshold="high")


def test_unknown_key_lists_the_nearest_valid_keys_not_all_of_them():
    from pydantic import BaseModel

    from eoforge.core.config import RunConfig
    from eoforge.core.errors import ConfigError

    class Inner(BaseModel):
        model_config = {"extra": "forbid"}
        ratio: float = 0.5
        refresh_every: int = 2

    class Cfg(RunConfig):
        batch_size: int = 8
        base_lr: float = 1e-3
        epochs: int = 3
        warmup_epochs: int = 1
        inner: Inner = Inner()

    with pytest.raises(ConfigError) as err:
        Cfg.from_dict({"batch_sise": 4})
    msg = str(err.value)
    assert "batch_sise: unknown key (did you mean batch_size?)" in msg
    assert "epochs" not in msg  # not the whole list
    with pytest.raises(ConfigError, match=r"inner.ratoi: unknown key \(did you mean ratio\?\)"):
        Cfg.from_dict({"inner": {"ratoi": 0.2}})
    with pytest.raises(ConfigError, match="check the spelling"):
        Cfg.from_dict({"zzz": 1})
