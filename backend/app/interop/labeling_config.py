"""Label Studio labeling configs: the XML that names a project's label classes and their colours.

Parsed with defusedxml, which refuses DTDs, entities and external references (an uploaded config must not
read server files or blow up memory). MineLabel needs one ``<Image>`` and one ``<PolygonLabels>`` that
points at it with ``toName``; the ``<Label>`` children are the classes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from app.core.errors import InvalidInputError

# The workshop's config (../shared/seed-data/minetracking2021/SOURCE.md).
DEFAULT_LABELING_CONFIG = """<View>
  <Header value="$image"/>
  <Image name="image" value="$image" zoom="true"/>
  <PolygonLabels name="label" toName="image" strokeWidth="3" pointSize="small" opacity="0.9">
    <Label value="Pit" background="red"/>
    <Label value="Infrastructure" background="blue"/>
    <Label value="Outline" background="yellow"/>
  </PolygonLabels>
</View>
"""

MAX_CONFIG_BYTES = 100_000
DEFAULT_COLOR = "#ff00ff"
_COLOR = re.compile(r"^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,30}|rgba?\([0-9.,\s%]+\))$")


class LabelingConfigError(InvalidInputError):
    code = "labeling_config_invalid"


@dataclass(frozen=True)
class LabelClass:
    name: str
    color: str


@dataclass(frozen=True)
class LabelingConfig:
    """What MineLabel uses of a config: the names that results refer to, and the classes."""

    from_name: str  # the PolygonLabels tag's name
    to_name: str  # the Image tag's name
    image_variable: str  # the task data key holding the image ($image -> "image")
    classes: tuple[LabelClass, ...]

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]


def parse_labeling_config(xml: str) -> LabelingConfig:
    """Parse and check a labeling config.

    Raises:
        LabelingConfigError: with a message that says what is wrong and how to fix it.
    """
    if len(xml.encode()) > MAX_CONFIG_BYTES:
        raise LabelingConfigError(f"The labeling config is larger than {MAX_CONFIG_BYTES:,} bytes.")
    try:
        root: Element = fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise LabelingConfigError(
            "The labeling config may not contain a DTD, entities or external references; remove them."
        ) from exc
    except ParseError as exc:
        line, column = exc.position
        raise LabelingConfigError(
            f"The labeling config is not well-formed XML (line {line}, column {column})."
        ) from exc
    polygon_tags = root.findall(".//PolygonLabels") + ([root] if root.tag == "PolygonLabels" else [])
    if not polygon_tags:
        raise LabelingConfigError(
            "The labeling config has no <PolygonLabels> tag; MineLabel labels polygons, so add one, e.g. "
            '<PolygonLabels name="label" toName="image"><Label value="Pit"/></PolygonLabels>.'
        )
    if len(polygon_tags) > 1:
        raise LabelingConfigError("The labeling config has more than one <PolygonLabels> tag; keep one.")
    polygons = polygon_tags[0]
    from_name = polygons.get("name")
    to_name = polygons.get("toName")
    if not from_name or not to_name:
        raise LabelingConfigError('<PolygonLabels> needs both a name="..." and a toName="..." attribute.')
    images = {image.get("name"): image for image in root.iter("Image")}
    image = images.get(to_name)
    if image is None:
        raise LabelingConfigError(
            f'<PolygonLabels toName="{to_name}"> names no <Image>; '
            f'add <Image name="{to_name}" value="$image"/>.'
        )
    value = image.get("value", "")
    if not value.startswith("$") or len(value) < 2:
        raise LabelingConfigError(f'<Image name="{to_name}"> needs value="$variable" (e.g. value="$image").')
    return LabelingConfig(
        from_name=from_name, to_name=to_name, image_variable=value[1:], classes=_classes(polygons)
    )


def _classes(polygons: Element) -> tuple[LabelClass, ...]:
    classes: list[LabelClass] = []
    seen: set[str] = set()
    for label in polygons.iter("Label"):
        name = (label.get("value") or "").strip()
        if not name:
            raise LabelingConfigError('Every <Label> needs a value="..." (the class name).')
        if name in seen:
            raise LabelingConfigError(f"The class {name!r} is listed twice in <PolygonLabels>.")
        color = (label.get("background") or DEFAULT_COLOR).strip()
        if not _COLOR.match(color):
            raise LabelingConfigError(f"The colour {color!r} of class {name!r} is not a CSS colour.")
        seen.add(name)
        classes.append(LabelClass(name=name, color=color))
    if not classes:
        raise LabelingConfigError("<PolygonLabels> has no <Label> children; add one per class.")
    return tuple(classes)
