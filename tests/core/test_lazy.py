import sys

import pytest

from eoforge.core.lazy import lazy_getattr


def test_lazy_attribute_imports_on_first_use_and_unknown_names_fail():
    sys.modules.pop("json.decoder", None)
    getattr_ = lazy_getattr("pkg", {"JSONDecoder": "json.decoder"})
    import json.decoder

    assert getattr_("JSONDecoder") is json.decoder.JSONDecoder
    with pytest.raises(AttributeError, match="'pkg' has no attribute 'nope'"):
        getattr_("nope")


def test_capability_packages_expose_their_heavy_entry_points_lazily():
    import eoforge.diffusion
    import eoforge.diffusion.training.train  # a submodule import must not shadow a lazy export
    import eoforge.ssl
    import eoforge.ssl.pretrain

    assert callable(eoforge.diffusion.load_run) and callable(eoforge.ssl.probe_run)
    assert isinstance(eoforge.ssl.SSLConfig, type) and isinstance(
        eoforge.diffusion.DiffusionConfig, type
    )
    for pkg in (eoforge.diffusion, eoforge.ssl):
        for name in pkg._LAZY:
            assert not isinstance(getattr(pkg, name), type(eoforge)), name  # never a module
    assert set(eoforge.ssl._LAZY) <= set(eoforge.ssl.__all__)
    assert set(eoforge.diffusion._LAZY) <= set(eoforge.diffusion.__all__)
