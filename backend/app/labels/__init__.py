"""Labels: region geometry checks and conversions (pixel space <-> EPSG:4326), how problems name a region
(``regions``), the class check, and the mine topology rules' codes (``topology``)."""
