"""Torch-free geo-ML shared by the API, the exports and the workers: chips, masks, polygons, metrics."""
