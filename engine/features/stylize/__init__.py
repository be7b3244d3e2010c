"""Optimisation-based stylization: Gatys style transfer, texture synthesis and
feature inversion sharing one optimiser (`optim`), with their benchmarks."""
