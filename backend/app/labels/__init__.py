"""Labels: region geometry checks and conversions (pixel space <-> EPSG:4326)."""
