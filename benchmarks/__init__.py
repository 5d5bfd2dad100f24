"""Benchmarks (not tests): `make bench` runs them and writes results under benchmarks/results/."""
