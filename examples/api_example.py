"""The same loop as the CLI, from Python (a notebook works the same way).

usage: python examples/api_example.py examples/demo.mp4
"""

from __future__ import annotations

import sys
from pathlib import Path

import clusterpipe
from clusterpipe import ClusterSettings, RunSettings


def main(video: str) -> None:
    out = Path("api_example_out")
    result = clusterpipe.run([video], out, RunSettings(cluster=ClusterSettings(eps=0.5)))
    print(f"{result.faces} faces in {result.clusters} clusters ({result.noise} noise)")
    # Name the largest cluster as a person would, by renaming its folder, then promote it.
    (out / "clusters" / "Face_0").rename(out / "clusters" / "person_a")
    print(clusterpipe.promote(out, out / "gallery"))
    for face in clusterpipe.identify([video], out / "gallery"):
        print(face.time_s, face.name, face.distance)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "examples/demo.mp4")
