"""Arbitrary style (AdaIN): the effect, its decoder, the procedural style corpus it
trains on, training and benchmark."""
