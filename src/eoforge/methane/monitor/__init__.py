"""Methane monitoring of archives: many sites, many dates, one command (issue 14).

- :mod:`.archive`: find the scenes of an archive (L1C ``.SAFE`` folders and multi-band
  GeoTIFFs), date them, group them by grid into sites, measure their valid (cloud-free)
  fraction, choose each scene's references and fingerprint its inputs for resumable reruns.
- :mod:`.series`: a synthetic archive with a known truth (sites, dates, clouds, plumes).
- :mod:`.run`: the monitoring run itself (one task per scene, on dask), its catalogue and report.
"""
