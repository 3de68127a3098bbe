"""Training of the plume detector on simulated scene pairs (``eoforge methane train``).

Where things go:

- :mod:`.config`: the settings of a run (:class:`~.config.DetectorConfig`), which of them a resumed
  run may change, their command-line options, and the training/evaluation seed split;
- :mod:`.simulate`: the ``simulate`` data stream (each pair rendered whole on the CPU);
- :mod:`.bank` (a Zarr bank of noise-free backgrounds and unit-rate plumes, written once) and
  :mod:`.bank_stream` (the ``bank`` data stream: crops on the CPU, plume injection, noise and
  features batched on the training device);
- :mod:`.loss`: the two-head loss; :mod:`.module`: the Lightning module (network start,
  training step, optimiser and schedule);
- :mod:`.run`: :func:`~.run.train_detector`, a run from its folder to the saved weights;
  :mod:`.report`: the run's ``report.html``.
"""
