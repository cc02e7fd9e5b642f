"""What a batch is: scans with per-scan options, from the command line and/or manifests.

A manifest is CSV (a `scan` column plus option columns; empty cells take the batch
default; `#` lines are comments) or JSON (a list of paths / {"scan": ..., option: ...}
objects, or {"defaults": {...}, "scans": [...]}). Relative paths are relative to the
manifest's folder. A bad manifest stops the batch before any scan runs, naming the file,
the row and the problem.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ot3d_engine.errors import ScanError


def _bool(value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def _count(value) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {value!r}")
    number = int(str(value).strip()) if not isinstance(value, int) else value
    if number < 0:
        raise ValueError(f"expected a number >= 0, got {number}")
    return number


def _at_least_one(value) -> int:
    number = _count(value)
    if number < 1:
        raise ValueError(f"expected a number >= 1, got {number}")
    return number


def _non_negative(value) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    number = float(value)
    if not number >= 0:
        raise ValueError(f"expected a number >= 0, got {value!r}")
    return number


def _text(value) -> str:
    return str(value).strip()


def _words(value) -> list[str]:
    items = value if isinstance(value, (list, tuple)) else re.split(r"[,;]", str(value))
    return [str(w).strip() for w in items if str(w).strip()]


@dataclass(frozen=True)
class Option:
    parse: object  # callable(value) -> value; raises ValueError on bad input
    default: object
    is_path: bool = False
    affects_output: bool = True  # part of the fingerprint that --resume compares
    help: str = ""


# Per-scan options: manifest columns/keys, and the batch-wide command-line defaults.
OPTIONS: dict[str, Option] = {
    "layout": Option(_text, "", help="scan layout (empty = auto-detect)"),
    "stride": Option(_at_least_one, 1, help="use every n-th frame"),
    "max_frames": Option(_count, 0, help="stop after this many frames (0 = all)"),
    "vocabulary": Option(_words, [], help="class names for open-vocabulary labels"),
    "segmenter": Option(_text, "geometric", help="2D segmenter backend"),
    "features": Option(_text, "color", help="feature backend"),
    "classifier": Option(_text, "", help="labelling backend (empty = none)"),
    "config": Option(_text, "", is_path=True, help="pipeline config file (TOML/JSON)"),
    "mesh": Option(_text, "", is_path=True, help="scan mesh for superpoint refinement"),
    "superpoints": Option(_bool, False, help="snap instances to mesh superpoints"),
    "import_cloud": Option(_bool, True, help="import the scan's coloured cloud into the .blend"),
    "frustums": Option(_bool, False, help="import camera frustums with the cloud"),
    "query": Option(_text, "", help="free-text query to run after segmentation"),
    "query_top_k": Option(_at_least_one, 5, help="matches kept for the query"),
    "query_verify": Option(_bool, False, help="verify query matches with the image-text model"),
    "timeout": Option(_non_negative, 0.0, affects_output=False, help="seconds before the scan is stopped (0 = none)"),
    "gpus": Option(_non_negative, 0.0, affects_output=False, help="GPUs a Ray task for the scan requests"),
    "cpus": Option(_non_negative, 1.0, affects_output=False, help="CPUs a Ray task for the scan requests"),
}
RESERVED_NAMES = {"logs", "batch_report.json", "run_log.jsonl"}


@dataclass
class ScanSpec:
    """One scan of the batch: where it is, its output folder name, and every option."""

    scan: str
    name: str
    options: dict = field(default_factory=dict)

    def fingerprint(self) -> str:
        """Changes when anything that shapes the outputs changes: the options, the config
        file's text, and the scan's (and mesh's) files: their names, sizes and mtimes."""
        shaping = {k: v for k, v in self.options.items() if OPTIONS[k].affects_output}
        config = self.options.get("config")
        if config:
            try:
                shaping["config_text"] = Path(config).read_text()
            except OSError:
                shaping["config_text"] = None
        inputs = {"scan": input_stamp(self.scan)}
        if self.options.get("mesh"):
            inputs["mesh"] = input_stamp(self.options["mesh"])
        doc = json.dumps({"scan": self.scan, "name": self.name, "options": shaping, "inputs": inputs},
                         sort_keys=True)
        return hashlib.sha256(doc.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict:
        return {"scan": self.scan, "name": self.name, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, doc: dict) -> "ScanSpec":
        return cls(scan=doc["scan"], name=doc["name"], options=dict(doc.get("options", {})))


def parse_options(raw: dict, base: Path, where: Path | None, row: str = "") -> dict:
    """Validated options from a manifest row / defaults block (unknown keys are errors)."""
    out = {}
    for key, value in raw.items():
        key = str(key).strip()
        if key in ("scan", "name"):
            continue
        if key not in OPTIONS:
            raise ScanError(where, f"{row}unknown option {key!r} (known: scan, name, {', '.join(OPTIONS)})")
        if value is None or (isinstance(value, str) and not value.strip()):
            continue  # empty cell: the batch default
        option = OPTIONS[key]
        try:
            parsed = option.parse(value)
        except (TypeError, ValueError) as exc:
            raise ScanError(where, f"{row}option {key!r}: {exc}") from None
        if option.is_path and parsed:
            parsed = str(_resolve(parsed, base))
        out[key] = parsed
    return out


def _resolve(path: str, base: Path) -> Path:
    p = Path(path).expanduser()
    return (p if p.is_absolute() else base / p).absolute()


@dataclass
class Entry:
    """A manifest row before names are assigned."""

    scan: str
    name: str | None
    options: dict
    where: str


def read_manifest(path: str | Path) -> list[Entry]:
    path = Path(path)
    if not path.is_file():
        raise ScanError(path, "manifest not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScanError(path, f"cannot read manifest: {exc}") from None
    base = path.parent.absolute()
    if path.suffix.lower() == ".json":
        return _json_entries(path, text, base)
    return _csv_entries(path, text, base)


def _json_entries(path: Path, text: str, base: Path) -> list[Entry]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScanError(path, f"not valid JSON: {exc}") from None
    defaults = {}
    if isinstance(doc, dict):
        if "scans" not in doc:
            raise ScanError(path, "a JSON manifest object needs a 'scans' list")
        if not isinstance(doc.get("defaults", {}), dict):
            raise ScanError(path, "'defaults' must be an object of options")
        defaults = parse_options(doc.get("defaults", {}), base, path, "defaults: ")
        doc = doc["scans"]
    if not isinstance(doc, list):
        raise ScanError(path, "expected a list of scans")
    entries = []
    for i, item in enumerate(doc):
        row = f"scan #{i + 1}: "
        if isinstance(item, str):
            item = {"scan": item}
        if not isinstance(item, dict) or not str(item.get("scan", "")).strip():
            raise ScanError(path, f"{row}needs a 'scan' path")
        options = {**defaults, **parse_options(item, base, path, row)}
        name = str(item["name"]).strip() if item.get("name") not in (None, "") else None
        entries.append(Entry(str(_resolve(str(item["scan"]).strip(), base)), name, options, f"{path} {row[:-2]}"))
    return entries


def _csv_entries(path: Path, text: str, base: Path) -> list[Entry]:
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.DictReader(lines)
    if not reader.fieldnames or "scan" not in [f.strip() for f in reader.fieldnames]:
        raise ScanError(path, "a CSV manifest needs a header row with a 'scan' column")
    entries = []
    for i, record in enumerate(reader):
        row = f"row {i + 2}: "
        if None in record:
            raise ScanError(path, f"{row}more cells than header columns")
        record = {k.strip(): v for k, v in record.items()}
        scan = (record.get("scan") or "").strip()
        if not scan:
            raise ScanError(path, f"{row}empty 'scan' cell")
        name = (record.get("name") or "").strip() or None
        entries.append(Entry(str(_resolve(scan, base)), name, parse_options(record, base, path, row),
                             f"{path} {row[:-2]}"))
    return entries


def scan_entries(paths: list[str]) -> list[Entry]:
    return [Entry(str(Path(p).expanduser().absolute()), None, {}, f"argument {p}") for p in paths]


def default_name(scan: str) -> str:
    p = Path(scan)
    stem = p.stem if p.suffix.lower() in (".pcd", ".ply") else p.name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "scan"


def build_specs(entries: list[Entry], defaults: dict) -> list[ScanSpec]:
    """Fill defaults and give every scan a unique, stable output folder name."""
    base = {k: o.default for k, o in OPTIONS.items()}
    base.update(defaults)
    taken: set[str] = set()
    for e in entries:
        if e.name is None:
            continue
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", e.name) or e.name in RESERVED_NAMES:
            raise ScanError(None, f"{e.where}: name {e.name!r} is not a usable folder name")
        if e.name in taken:
            raise ScanError(None, f"{e.where}: name {e.name!r} is used twice")
        taken.add(e.name)
    specs = []
    for e in entries:
        name = e.name
        if name is None:
            stem = default_name(e.scan)
            name, k = stem, 2
            while name in taken or name in RESERVED_NAMES:
                name, k = f"{stem}-{k}", k + 1
            taken.add(name)
        specs.append(ScanSpec(scan=e.scan, name=name, options={**base, **e.options}))
    return specs


def input_stamp(path: str | Path) -> str:
    """A digest of every file under `path` (relative name, size, mtime): a changed, added or
    removed input file changes it, without reading any file's content."""
    root = Path(path)
    rows = []
    try:
        if root.is_file():
            st = root.stat()
            rows.append(("", st.st_size, st.st_mtime_ns))
        else:
            for dirpath, dirs, files in os.walk(root):
                dirs.sort()
                for name in sorted(files):
                    full = os.path.join(dirpath, name)
                    try:
                        st = os.stat(full)
                    except OSError:
                        continue
                    rows.append((os.path.relpath(full, root), st.st_size, st.st_mtime_ns))
    except OSError:
        return "unreadable"
    return hashlib.sha256(json.dumps(rows).encode("utf-8")).hexdigest()[:16]
