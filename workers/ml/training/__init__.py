"""Retraining on the GPU workers: the U-Net, its chips, the training loop (run in a subprocess of its own),
the `train` job that drives it, and the `predict` job that pre-labels with the champion."""
