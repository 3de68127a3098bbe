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
    import eoforge.ssl

    assert callable(eoforge.diffusion.train) and callable(eoforge.ssl.pretrain)
    assert set(eoforge.ssl._LAZY) <= set(eoforge.ssl.__all__)
    assert set(eoforge.diffusion._LAZY) <= set(eoforge.diffusion.__all__)
