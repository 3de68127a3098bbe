"""eoforge: Earth-observation and climate machine learning in one toolkit.

Four capabilities, each the working version of a published system:

- ``eoforge.curation`` / ``eoforge.ssl``: curated self-supervised pre-training of SAR encoders.
- ``eoforge.diffusion``: diffusion models for SAR and InSAR images.
- ``eoforge.methane``: methane plume detection in Sentinel-2.
- ``eoforge.extremes``: regionalisation of precipitation extremes (RFA-madogram clustering).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("eoforge")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
