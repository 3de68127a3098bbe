"""WV stores: a :class:`~eoforge.sar.wv.WVSet` saved as Zarr (or NetCDF) through xarray.

``layout`` (the variables, chunking and atomic writes), ``reading`` (summary, streaming metadata,
whole loads), ``synth`` (synthetic sets generated block by block) and ``importing`` (folders of
real imagettes). The names below are the store's public interface.
"""

from eoforge.sar.store.importing import import_imagettes
from eoforge.sar.store.layout import save_wv, set_chunks, to_dataset, write_blocks
from eoforge.sar.store.reading import load_wv, read_meta, summarise
from eoforge.sar.store.synth import write_synth_wv

__all__ = [
    "import_imagettes",
    "load_wv",
    "read_meta",
    "save_wv",
    "set_chunks",
    "summarise",
    "to_dataset",
    "write_blocks",
    "write_synth_wv",
]
