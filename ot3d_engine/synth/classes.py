"""The synthetic scenes' class table: NYU40 ids where ScanNet has the class, 41+ for small objects.

Using ScanNet's own ids for furniture keeps synthetic ground truth comparable with
ScanNet-style benchmarks; the small-object classes are not in NYU40, so they get ids
after it (names follow ScanNet200's spelling).
"""

from __future__ import annotations

CLASSES: dict[int, str] = {
    1: "wall",
    2: "floor",
    3: "cabinet",
    4: "bed",
    5: "chair",
    6: "sofa",
    7: "table",
    10: "bookshelf",
    22: "ceiling",
    41: "cup",
    42: "bottle",
    43: "book",
    44: "box",
    45: "lamp",
    46: "trash can",
    47: "bowl",
}

CLASS_ID: dict[str, int] = {name: cid for cid, name in CLASSES.items()}

# structure, not objects: excluded from instance evaluation as in ScanNet's benchmark
IGNORED = ("wall", "floor", "ceiling")
IGNORED_IDS: tuple[int, ...] = tuple(CLASS_ID[n] for n in IGNORED)
