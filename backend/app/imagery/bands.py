"""Band names and display presets (which bands make red, green and blue on screen)."""

from __future__ import annotations

from app.models.project import DisplayPreset

# Sentinel-2 band stacks without descriptions are recognised by their band count.
SENTINEL2_L2A = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]
SENTINEL2_L1C = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]

# Display presets as band names, best first; common aliases let RGB(+NIR) files use them too.
PRESET_BANDS: dict[DisplayPreset, list[tuple[str, ...]]] = {
    DisplayPreset.TRUE_COLOR: [("B4", "B3", "B2"), ("red", "green", "blue")],
    DisplayPreset.FALSE_COLOR: [("B8", "B4", "B3"), ("nir", "red", "green")],
    DisplayPreset.SWIR: [("B12", "B8A", "B4"), ("B12", "B8", "B4")],
}


def default_band_names(count: int, descriptions: list[str | None], color_names: list[str]) -> list[str]:
    """Band names from the file's descriptions, else from colour interpretation or the band count.

    Args:
        count: number of data bands (alpha excluded).
        descriptions: the file's band descriptions (None where missing).
        color_names: the file's colour interpretation per band ('red', 'gray', 'undefined', ...).
    """
    if all(descriptions) and len(set(descriptions)) == count:
        return [str(d)[:32] for d in descriptions]
    if count == len(SENTINEL2_L2A):
        return list(SENTINEL2_L2A)
    if count == len(SENTINEL2_L1C):
        return list(SENTINEL2_L1C)
    if count in (3, 4) and color_names[:3] == ["red", "green", "blue"]:
        return ["red", "green", "blue", "nir"][:count]
    if count == 1:
        return ["gray"]
    return [f"b{i}" for i in range(1, count + 1)]


def preset_indexes(preset: DisplayPreset, band_names: list[str]) -> tuple[int, ...] | None:
    """1-based band indexes for ``preset``, or None when the image lacks its bands."""
    lookup = {name.lower(): i + 1 for i, name in enumerate(band_names)}
    for names in PRESET_BANDS[preset]:
        if all(n.lower() in lookup for n in names):
            return tuple(lookup[n.lower()] for n in names)
    return None


def display_indexes(preset: DisplayPreset, band_names: list[str]) -> tuple[int, ...]:
    """Bands to show: the preset's, else true colour, else the first three bands (or one grey band)."""
    for candidate in (preset, DisplayPreset.TRUE_COLOR):
        indexes = preset_indexes(candidate, band_names)
        if indexes is not None:
            return indexes
    return (1, 2, 3) if len(band_names) >= 3 else (1,)
