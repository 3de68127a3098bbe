"""How good a detector is: benchmarks on held-out simulated scenes and on real surfaces.

Where things go:

- :mod:`.benchmark`: ``eoforge methane evaluate`` (POD vs emission rate at a false-positive
  budget, the MBMP baseline, emission-rate errors; the protocol is in its docstring);
- :mod:`.heldout`: the held-out scenes (seeds >= 2^30) and the detector's maps of one scene;
- :mod:`.scan`: per-threshold counts of candidate plumes and the operating-point selection;
- :mod:`.stats`: interval estimates (Wilson POD interval, scene bootstrap of the FP rate);
- :mod:`.report`: the benchmark's ``report.html``;
- :mod:`.real_surfaces`: scoring on real Sentinel-2 surfaces with injected plumes.

A new metric of the simulated benchmark goes in :mod:`.benchmark` (from the per-threshold
arrays of :mod:`.scan`); a new interval estimate in :mod:`.stats`.
"""
