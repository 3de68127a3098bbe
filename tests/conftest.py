"""Test-wide settings: offline, headless, quiet progress bars."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ["EOFORGE_PROGRESS"] = "0"
