"""Plume detection on a scene pair: probability map -> candidate plumes -> plumes with kg/h.

Where things go:

- :mod:`.pipeline`: :func:`~.pipeline.detect`, the whole detection of one pair (the steps are in
  its docstring), and its :class:`~.pipeline.Plume` / :class:`~.pipeline.DetectionResult`;
- :mod:`.candidates`: the one candidate-plume rule (8-connected components of p > t with a
  minimum area, then the context veto) that detection, evaluation and calibration share;
- :mod:`.context_veto`: the veto of candidates whose visible/NIR bands changed too;
- :mod:`.outputs`: the files of a detection (GeoTIFFs, GeoJSON, PNG map, report).

The network and its tiled inference are in :mod:`eoforge.methane.detector`; a new rule that
keeps or drops candidate plumes goes in :mod:`.candidates`.
"""
