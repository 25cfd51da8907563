"""Runs under .venv-lssdk (label-studio-sdk, a real consumer of Label Studio JSON), not the project's venv.

Usage: python ls_sdk_convert.py CONFIG.xml EXPORT.json OUT_DIR
Converts the export to COCO and to YOLO (polygon segmentation) with label-studio-sdk's Converter, without
downloading any image, and prints a JSON summary of what the converter produced.
"""

import json
import sys
from pathlib import Path

from label_studio_sdk.converter import Converter


def main() -> None:
    config, export, out = Path(sys.argv[1]).read_text(), sys.argv[2], Path(sys.argv[3])
    converter = Converter(config=config, project_dir=None, download_resources=False)
    for name, convert in (("coco", converter.convert_to_coco), ("yolo", converter.convert_to_yolo)):
        convert(export, str(out / name), output_image_dir=str(out / name / "images"), is_dir=False)
    coco = json.loads((out / "coco" / "result.json").read_text())
    labels = {p.name: p.read_text() for p in sorted((out / "yolo" / "labels").glob("*.txt"))}
    classes = (out / "yolo" / "classes.txt").read_text().split()
    sys.stdout.write(json.dumps({"coco": coco, "yolo_labels": labels, "yolo_classes": classes}))


if __name__ == "__main__":
    main()
