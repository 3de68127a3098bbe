"""Seeded synthetic Sentinel-2 scene pairs for methane detection, and real surfaces as pairs.

Where things go:

- :mod:`.simulate`: the entry points :func:`simulate_pair` and :func:`simulate_plume_pair`
  (the rendering order and scene statistics are in its docstring);
- :mod:`.options`: the options of a pair (:class:`SceneOptions`, their one set of defaults) and
  the conditions drawn from them (surface type, confounder kinds, sun and view geometry);
- :mod:`.render`: the band-by-band rendering of a pair (:class:`ScenePair`);
- :mod:`.surface` (surface layouts), :mod:`.spectra` (end-members, atmosphere, noise and
  confounder tables), :mod:`.fields` (random spatial fields and shifts), :mod:`.effects` (water,
  clouds, confounders, noise): a new scene effect goes in :mod:`.effects` and is applied by
  :mod:`.render`;
- :mod:`.revisits`: several reference dates of a simulated site (the reference scenes of its
  revisits), as ``evaluate`` and ``calibrate`` draw them;
- :mod:`.real_surfaces`: real Sentinel-2 patches made into pairs with the simulator's physics;
  :mod:`.realism`: texture and spectral statistics comparing simulated and real surfaces.
"""

from eoforge.methane.scenes.options import SceneOptions
from eoforge.methane.scenes.render import VAPOUR_LOADING, ScenePair
from eoforge.methane.scenes.simulate import simulate_pair, simulate_plume_pair
from eoforge.methane.scenes.spectra import S2_BANDS
from eoforge.methane.scenes.surface import SURFACES

__all__ = [
    "S2_BANDS",
    "SURFACES",
    "VAPOUR_LOADING",
    "SceneOptions",
    "ScenePair",
    "simulate_pair",
    "simulate_plume_pair",
]
