"""The dataset card written with every export: DEST/README.md for people, DEST/dataset.json for
tools. It says where the images came from, how they were split and labelled, and what is known
to be missing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

# Measured on the dev footage and real_dev (faces matched to their hand-checked dlib HOG boxes):
# MTCNN's box is 0.94x as wide, 1.26-1.31x as tall, its centre 0.08-0.1 of the height higher.
BOX_CONVENTION = (
    "Boxes are the detector's (MTCNN by default): about 0.94x as wide and 1.3x as tall as a "
    "tight dlib/HOG face box, reaching up to the forehead (centre about 0.09 of the box height "
    "higher). Convert before mixing them with tightly boxed datasets."
)


@dataclass
class Card:
    """What an export states about itself."""

    format: str
    images: str
    run_id: str
    videos: list[str]
    version: str
    options: dict
    classes: list[str]
    counts: dict[str, dict[str, int]]  # split -> class -> labelled boxes
    images_per_split: dict[str, int]
    train_only: list[str]
    too_few_faces: list[str]
    near_duplicate_pairs: int
    split_units: int
    crossing_pairs: int  # near-duplicate pairs with one image on each side: 0 by construction
    masked_small: int = 0
    left_out_small: int = 0
    rejected_dropped: int = 0
    backgrounds: int = 0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        """dataset.json."""
        return {"box_convention": BOX_CONVENTION, **self.__dict__}

    def markdown(self) -> str:
        """README.md."""
        splits = list(self.images_per_split)
        rows = [
            f"| {c} | " + " | ".join(str(self.counts.get(s, {}).get(c, 0)) for s in splits) + " |"
            for c in self.classes
        ]
        lines = [
            f"# Face dataset ({self.format}, {self.images})",
            "",
            f"Made by clusterpipe {self.version} from run `{self.run_id}` of:",
            *[f"- `{v}`" for v in self.videos],
            "",
            "Options: " + ", ".join(f"`{k}={v}`" for k, v in sorted(self.options.items())),
            "",
            "## Boxes per class and split",
            "",
            "| class | " + " | ".join(splits) + " |",
            "|---" * (len(splits) + 1) + "|",
            *rows,
            "",
            "Images: " + ", ".join(f"{s} {n}" for s, n in self.images_per_split.items()),
            "",
            "## How it was split",
            "",
            f"Images were grouped before splitting: whole shots, joined with every shot holding a "
            f"near-duplicate (32x32 thumbnail correlation >= 0.9) of one of their images: "
            f"{self.split_units} groups, {self.near_duplicate_pairs} near-duplicate pairs found, "
            f"{self.crossing_pairs} of them across train and val.",
        ]
        if self.train_only:
            lines.append(
                "In train only (all their images are one group): " + ", ".join(self.train_only)
            )
        if self.too_few_faces:
            lines.append("Left out (under --min-faces): " + ", ".join(self.too_few_faces))
        lines += [
            "",
            "## Labels",
            "",
            BOX_CONVENTION,
            "",
            "Faces the detector missed are not labelled: a model trained on full frames learns "
            "to miss what the detector missed.",
        ]
        if self.images == "frames":
            lines += [
                f"Detections the user rejected are dropped (no box): {self.rejected_dropped}.",
                f"Faces under --min-box masked grey and unlabelled: {self.masked_small}.",
                f"Face-free background frames: {self.backgrounds}.",
            ]
        elif self.left_out_small:
            lines.append(f"Faces under --min-box left out: {self.left_out_small}.")
        lines += ["", *[f"Note: {n}" for n in self.notes]]
        return "\n".join(lines).rstrip() + "\n"

    def write(self, dest: Path) -> None:
        """Write README.md and dataset.json into the dataset's folder."""
        (dest / "README.md").write_text(self.markdown(), encoding="utf-8")
        (dest / "dataset.json").write_text(
            json.dumps(self.to_json(), indent=1, ensure_ascii=False), encoding="utf-8"
        )
