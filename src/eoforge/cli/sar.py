"""``eoforge sar``: SAR data tools (synthetic wave-mode imagettes, readers)."""

from eoforge.cli._common import planned_app

app = planned_app("sar", 4, "SAR data tools: synthetic WV imagettes and readers")
