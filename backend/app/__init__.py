"""MineLabel: reviewed labels and trained models from satellite imagery of mines."""
