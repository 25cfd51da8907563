"""Band names and display presets: which bands make red, green and blue on screen, which presets an image
supports, and what it shows when the project's preset is not one of them."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.errors import InvalidInputError
from app.models.project import DisplayPreset

# Sentinel-2 band stacks without descriptions are recognised by their band count.
SENTINEL2_L2A = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B11", "B12"]
SENTINEL2_L1C = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]

# Colour presets as band names, best first; common aliases let RGB(+NIR) files use them too.
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


# Single-band float rasters are taken for elevation models (DEMs); these presets are theirs only.
TERRAIN_PRESETS = (DisplayPreset.HILLSHADE, DisplayPreset.ELEVATION)


class PresetNotSupportedError(InvalidInputError):
    """An explicitly requested preset the image lacks the bands for; ``supported`` lists its presets."""

    code = "preset_not_supported"


@dataclass(frozen=True)
class PresetFallback:
    """The project's preset is not possible on this image: what is shown instead (None: its own bands)."""

    requested: DisplayPreset
    shown: DisplayPreset | None
    message: str


def is_terrain(band_names: list[str], dtype: str) -> bool:
    return len(band_names) == 1 and dtype == "float32"


def preset_indexes(preset: DisplayPreset, band_names: list[str]) -> tuple[int, ...] | None:
    """1-based band indexes for a colour ``preset``, or None when the image lacks its bands."""
    lookup = {name.lower(): i + 1 for i, name in enumerate(band_names)}
    for names in PRESET_BANDS.get(preset, []):
        if all(n.lower() in lookup for n in names):
            return tuple(lookup[n.lower()] for n in names)
    return None


def supported_presets(band_names: list[str], dtype: str) -> list[DisplayPreset]:
    """The presets this image can be shown with: DEMs hillshade and elevation, others the colour presets
    whose bands they have (none for a grey image, which is shown as its band)."""
    if is_terrain(band_names, dtype):
        return list(TERRAIN_PRESETS)
    return [p for p in PRESET_BANDS if preset_indexes(p, band_names) is not None]


def own_bands(band_names: list[str]) -> tuple[int, ...]:
    """What an image without a usable preset shows: its first three bands, or its one grey band."""
    return (1, 2, 3) if len(band_names) >= 3 else (1,)


def requested_preset(preset: DisplayPreset, band_names: list[str], dtype: str) -> DisplayPreset:
    """``preset`` when the image supports it; asked for explicitly, anything else is an error (never a
    silent true colour)."""
    supported = supported_presets(band_names, dtype)
    if preset in supported:
        return preset
    if supported:
        offer = f"it supports {', '.join(p.value for p in supported)}"
    else:
        offer = f"it supports no preset and is shown as its own band{'s' if len(band_names) > 1 else ''}"
    raise PresetNotSupportedError(
        f"Preset {preset.value} needs bands this image does not have (its bands: {', '.join(band_names)}); "
        f"{offer}. Leave out ?preset for the image's default.",
        supported=[p.value for p in supported],
    )


def default_preset(
    project_preset: DisplayPreset, band_names: list[str], dtype: str
) -> tuple[DisplayPreset | None, PresetFallback | None]:
    """What the image shows without an explicit preset: the project's when it can, else true colour, else
    its own first preset (a DEM's hillshade), else its own bands; with the fallback, when there is one."""
    supported = supported_presets(band_names, dtype)
    if project_preset in supported:
        return project_preset, None
    shown = next((p for p in (DisplayPreset.TRUE_COLOR, *supported) if p in supported), None)
    what = f"shown as {shown.value}" if shown else "shown as its own bands"
    message = (
        f"The project's display preset {project_preset.value} needs bands this image does not have; it is "
        f"{what}."
    )
    return shown, PresetFallback(project_preset, shown, message)
