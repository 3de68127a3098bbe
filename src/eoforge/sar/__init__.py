"""SAR data tools: speckle and radiometry, synthetic wave-mode imagettes, InSAR phase tools.

Import from the modules (``eoforge.sar.wv``, ``eoforge.sar.stats``, ...).
"""
