"""The shipped default model: fp16 weights, settings, training log (python -m hdogreg.train default)."""
