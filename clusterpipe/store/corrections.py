"""OUT/corrections.json: what the user said by moving and deleting crops, kept across commands
(see repair.py for how it is derived from the files)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import StoreError
from .atomic import read_json, write_json
from .records import SAFE_ID

CORRECTIONS_FILE = "corrections.json"


@dataclass
class Corrections:
    """What the user said by moving and deleting crops, kept across commands."""

    rejected: set[str] = field(default_factory=set)
    # Each entry: groups of face ids; faces of two different groups are different people.
    apart: list[list[list[str]]] = field(default_factory=list)
    # Each entry: face ids of one person ("same" on the review page): kept in one cluster.
    together: list[list[str]] = field(default_factory=list)

    @classmethod
    def load(cls, out: Path) -> Corrections:
        path = Path(out) / CORRECTIONS_FILE
        if not path.exists():
            return cls()
        data = read_json(path, "corrections file", "fix or delete it")
        try:
            rejected = {_safe_id(i) for i in data["rejected"]}
            apart = [[[_safe_id(i) for i in g] for g in entry] for entry in data["apart"]]
            together = [[_safe_id(i) for i in g] for g in data.get("together", [])]
        except (KeyError, TypeError, ValueError) as e:
            raise StoreError(f"{path}: damaged corrections file ({e}); fix or delete it") from None
        return cls(rejected, apart, together)

    def save(self, out: Path) -> None:
        """Write the corrections, each said once (the same split or move seen again by a later
        command adds nothing)."""
        seen: set[tuple] = set()
        apart = []
        for entry in self.apart:
            key = entry_key(entry)
            if key not in seen:
                seen.add(key)
                apart.append(entry)
        self.apart = apart
        together: list[list[str]] = []
        seen_t: set[tuple[str, ...]] = set()
        for group in self.together:
            members = entry_key(group)
            if members not in seen_t:
                seen_t.add(members)
                together.append(list(members))
        self.together = together
        data: dict = {"format": 1, "rejected": sorted(self.rejected), "apart": apart}
        if together:  # written only when said: files of earlier versions stay as they were
            data["together"] = together
        write_json(Path(out) / CORRECTIONS_FILE, data)

    def add(self, kind: str, entry: list) -> bool:
        """Add a "together" or "apart" entry; False (nothing added) if an equal one is there."""
        entries: list[list] = self.together if kind == "together" else self.apart
        if any(entry_key(e) == entry_key(entry) for e in entries):
            return False
        entries.append(entry)
        return True

    def remove(self, kind: str, entry: list) -> bool:
        """Remove the first entry equal to `entry`; whether there was one."""
        entries: list[list] = self.together if kind == "together" else self.apart
        for k, e in enumerate(entries):
            if entry_key(e) == entry_key(entry):
                del entries[k]
                return True
        return False

    def worth_saving(self, out: Path) -> bool:
        """Whether there is something to remember, or a file to keep up to date."""
        return (
            bool(self.rejected or self.apart or self.together)
            or (Path(out) / CORRECTIONS_FILE).exists()
        )

    def links(self, ids: list[str]) -> list[tuple[int, int]]:
        """Pairs of positions in `ids` that the corrections keep apart."""
        pos = {fid: k for k, fid in enumerate(ids)}
        pairs = set()
        for entry in self.apart:
            groups = [[pos[i] for i in g if i in pos] for g in entry]
            for a in range(len(groups)):
                for b in range(a + 1, len(groups)):
                    pairs |= {(min(x, y), max(x, y)) for x in groups[a] for y in groups[b]}
        return sorted(pairs)


def entry_key(entry: list) -> tuple:
    """A correction entry (a together group, or an apart entry's groups) however its groups
    and ids are ordered: two equal keys say the same thing."""
    if entry and isinstance(entry[0], list):
        return tuple(sorted(tuple(sorted(g)) for g in entry))
    return tuple(sorted(entry))


def _safe_id(value) -> str:
    if not isinstance(value, str) or not SAFE_ID.match(value):
        raise ValueError(f"{str(value)[:40]!r} is not a face id")
    return value
