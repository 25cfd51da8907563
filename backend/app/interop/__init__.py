"""Formats shared with other tools: Label Studio's labeling config and JSON, GIS formats."""
