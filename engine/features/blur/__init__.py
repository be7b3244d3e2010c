"""Gaussian blur: the effect and its benchmark."""
