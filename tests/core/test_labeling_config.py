"""Label Studio labeling configs: the workshop's default, real-world variants, and hostile XML."""

from __future__ import annotations

import pytest

from app.interop.labeling_config import (
    DEFAULT_LABELING_CONFIG,
    LabelClass,
    LabelingConfigError,
    parse_labeling_config,
)


def test_the_default_is_the_workshop_config() -> None:
    config = parse_labeling_config(DEFAULT_LABELING_CONFIG)
    assert (config.from_name, config.to_name, config.image_variable) == ("label", "image", "image")
    assert config.classes == (
        LabelClass("Pit", "red"),
        LabelClass("Infrastructure", "blue"),
        LabelClass("Outline", "yellow"),
    )


def test_other_names_hex_colours_and_nesting_are_read() -> None:
    config = parse_labeling_config(
        """<View><View style="display:flex">
             <Image name="scene" value="$img" zoom="true"/>
             <PolygonLabels name="mine" toName="scene">
               <Label value="Pit" background="#ff0000"/><Label value="Tailings"/>
             </PolygonLabels></View></View>"""
    )
    assert (config.from_name, config.to_name, config.image_variable) == ("mine", "scene", "img")
    assert config.class_names == ["Pit", "Tailings"]
    assert config.classes[1].color == "#ff00ff"  # no background given


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        ("<View><Image name='i' value='$image'/></View>", "has no <PolygonLabels> tag"),
        (
            "<View><Image name='i' value='$image'/><PolygonLabels name='l' toName='x'><Label value='Pit'/>"
            "</PolygonLabels></View>",
            'names no <Image>; add <Image name="x"',
        ),
        (
            "<View><Image name='i' value='$image'/><PolygonLabels name='l'><Label value='Pit'/>"
            "</PolygonLabels></View>",
            "needs both a name",
        ),
        (
            "<View><Image name='i' value='$image'/><PolygonLabels name='l' toName='i'/></View>",
            "no <Label> children",
        ),
        (
            "<View><Image name='i' value='$image'/><PolygonLabels name='l' toName='i'><Label value='Pit'/>"
            "<Label value='Pit'/></PolygonLabels></View>",
            "'Pit' is listed twice",
        ),
        (
            "<View><Image name='i' value='image.png'/><PolygonLabels name='l' toName='i'><Label value='Pit'/>"
            "</PolygonLabels></View>",
            'needs value="$variable"',
        ),
        (
            "<View><Image name='i' value='$image'/><PolygonLabels name='l' toName='i'>"
            "<Label value='Pit' background='red;x:expression(1)'/></PolygonLabels></View>",
            "is not a CSS colour",
        ),
        ("<View><Image name='i'", "not well-formed XML (line 1"),
    ],
    ids=[
        "no-polygonlabels",
        "toname-unknown",
        "no-toname",
        "no-labels",
        "duplicate",
        "no-variable",
        "bad-colour",
        "malformed",
    ],
)
def test_unusable_configs_are_refused_with_a_reason(xml: str, message: str) -> None:
    with pytest.raises(LabelingConfigError, match=message.replace("(", r"\(").replace("$", r"\$")):
        parse_labeling_config(xml)


@pytest.mark.parametrize(
    "xml",
    [
        # XXE: an external entity that would read a server file
        '<?xml version="1.0"?><!DOCTYPE v [<!ENTITY x SYSTEM "file:///etc/passwd">]><View>&x;</View>',
        # billion laughs: nested entities that explode in memory
        '<?xml version="1.0"?><!DOCTYPE v [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><View>&b;</View>',
        # a DTD alone
        '<?xml version="1.0"?><!DOCTYPE View SYSTEM "http://example.org/x.dtd"><View/>',
    ],
    ids=["xxe", "billion-laughs", "external-dtd"],
)
def test_dtds_and_entities_are_refused(xml: str) -> None:
    with pytest.raises(LabelingConfigError, match="may not contain a DTD"):
        parse_labeling_config(xml)
