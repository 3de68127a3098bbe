"""Training a diffusion model: the run's configuration, losses, the Lightning module, the loop.

``config`` (:class:`DiffusionConfig`, the seeded U-Net of a run), ``losses`` (``L_simple``, the
hybrid ``L_simple + lambda T L_vlb``, timestep samplers), ``module`` (the LightningModule with
its EMA and exact-resume state), ``train`` (``train`` and ``eoforge diffusion train``'s job) and
``train_report`` (the run's HTML report). A new loss term or timestep sampler goes in
``losses``. Import from the modules, e.g. ``from eoforge.diffusion.training.train import train``.
"""
