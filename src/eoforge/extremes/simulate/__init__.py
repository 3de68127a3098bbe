"""Seeded simulations with planted truths, for tests, benchmarks and the demo.

- :mod:`.regions`: sites in planted regions (RFA-homogeneous margins, max-stable dependence).
- :mod:`.ensemble`: a synthetic multi-model climate ensemble on a lat/lon grid, two experiments.
"""
