"""Helpers shared by tests and benchmarks (conversions of real data read at test time)."""
