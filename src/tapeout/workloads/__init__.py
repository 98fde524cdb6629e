"""Workload front ends: model descriptions -> op graphs for one scenario."""
