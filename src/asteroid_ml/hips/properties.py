"""HiPS ``properties`` files: parsing and validation.

A HiPS (IVOA HiPS 1.0) is described by a ``properties`` file of ``key = value``
lines. Only ``hips_order`` is strictly required here; the frame defaults to
equatorial, the tile width to 512 and the formats to ``fits`` when absent, as
older surveys (and the compatibility keys ``coordsys``/``maxOrder``) allow.
"""

from __future__ import annotations

from dataclasses import dataclass

#: hips_frame values and the pre-1.0 ``coordsys`` letters they replace.
FRAMES = {"equatorial": "equatorial", "galactic": "galactic", "ecliptic": "ecliptic"}
COORDSYS_LETTERS = {"C": "equatorial", "G": "galactic", "E": "ecliptic"}


class HipsPropertiesError(ValueError):
    """A ``properties`` file is missing a required key or has an invalid value."""


def parse_properties(text: str) -> dict[str, str]:
    """Parse ``key = value`` lines; ``#`` comments and blank lines are skipped.

    Later occurrences of a key win (as in Aladin). Lines without ``=`` are ignored.
    """
    properties: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        key, value = stripped.split("=", 1)
        properties[key.strip()] = value.strip()
    return properties


@dataclass(frozen=True)
class HipsMetadata:
    """The validated subset of ``properties`` the reader needs."""

    order: int
    frame: str
    tile_width: int
    tile_formats: tuple[str, ...]


def _int_key(properties: dict[str, str], key: str, source: str) -> int:
    raw = properties[key]
    try:
        return int(raw)
    except ValueError:
        raise HipsPropertiesError(
            f"{source}: key {key!r} must be an integer, got {raw!r}"
        ) from None


def validate_properties(properties: dict[str, str], source: str) -> HipsMetadata:
    """Check and convert the keys used for reading tiles.

    Parameters
    ----------
    properties
        Parsed ``properties`` (see :func:`parse_properties`).
    source
        Where they came from (file path or URL), quoted in error messages.
    """
    if "hips_order" in properties:
        order = _int_key(properties, "hips_order", source)
    elif "maxOrder" in properties:
        order = _int_key(properties, "maxOrder", source)
    else:
        raise HipsPropertiesError(f"{source}: missing required key 'hips_order'")
    if not 0 <= order <= 29:
        raise HipsPropertiesError(f"{source}: key 'hips_order' must be in 0..29, got {order}")

    if "hips_frame" in properties:
        frame = properties["hips_frame"].lower()
        if frame not in FRAMES:
            raise HipsPropertiesError(
                f"{source}: key 'hips_frame' must be one of {sorted(FRAMES)}, "
                f"got {properties['hips_frame']!r}"
            )
    elif "coordsys" in properties:
        letter = properties["coordsys"].strip().upper()[:1]
        if letter not in COORDSYS_LETTERS:
            raise HipsPropertiesError(
                f"{source}: key 'coordsys' must be C, G or E, got {properties['coordsys']!r}"
            )
        frame = COORDSYS_LETTERS[letter]
    else:
        frame = "equatorial"

    tile_width = (
        _int_key(properties, "hips_tile_width", source)
        if ("hips_tile_width" in properties)
        else 512
    )
    if tile_width < 1 or tile_width & (tile_width - 1):
        raise HipsPropertiesError(
            f"{source}: key 'hips_tile_width' must be a power of two, got {tile_width}"
        )

    raw_formats = properties.get("hips_tile_format", properties.get("format", "fits"))
    formats = tuple(raw_formats.lower().split())
    if "fits" not in formats:
        raise HipsPropertiesError(
            f"{source}: key 'hips_tile_format' = {raw_formats!r} has no 'fits' tiles "
            "(only FITS tiles carry the real pixel values)"
        )
    return HipsMetadata(order=order, frame=frame, tile_width=tile_width, tile_formats=formats)
