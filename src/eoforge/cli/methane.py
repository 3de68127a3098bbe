"""``eoforge methane``: methane plume detection in Sentinel-2."""

from eoforge.cli._common import planned_app

app = planned_app("methane", 6, "methane plume detection and quantification in Sentinel-2")
