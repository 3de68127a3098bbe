"""Calibrations fitted on simulated plumes of known rate: thresholds and effective winds.

Where things go:

- :mod:`.detector`: ``eoforge methane calibrate`` - a trained detector's threshold (false-plume
  budget on plume-free scenes) and its rate calibration, written into its JSON;
- :mod:`.detector_rates`: U_eff = a U10 + b for the detector's own masks
  (:func:`~.detector_rates.calibrate_detector_rates`);
- :mod:`.effective_wind`: U_eff for idealised masks from the retrieved MBMP column (the defaults
  of :mod:`eoforge.methane.quantification`);
- :mod:`.cases`: the seeded simulated plume of known rate and wind both fits draw.

The rate maths applied at detection time (IME over a grown component, Q = U_eff IME / L) is in
:mod:`eoforge.methane.detector.rates`; a new calibration goes here, drawing its cases from
:mod:`.cases`.
"""
