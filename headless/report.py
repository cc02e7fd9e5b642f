"""What a scan's run came to, and how the batch shows it: a line per scan, a table at the end."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

OK, FAILED, SKIPPED, INTERRUPTED = "ok", "failed", "skipped", "interrupted"


@dataclass
class ScanReport:
    name: str
    scan: str
    status: str  # ok | failed | skipped | interrupted
    instances: int | None = None
    points: int | None = None
    seconds: float = 0.0
    message: str = ""  # failure text (first line shown in the table), or why it was skipped
    step: str = ""  # the step that failed: import, segment, materialize, query, export, save
    output: str = ""
    log: str = ""
    details: dict = field(default_factory=dict)  # per-step times, labels, query matches, engine timings

    @property
    def ok(self) -> bool:
        return self.status in (OK, SKIPPED)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: dict) -> "ScanReport":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in doc.items() if k in known})


def _first_line(text: str, width: int = 100) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line if len(line) <= width else line[: width - 3] + "..."


def progress_line(report: ScanReport, index: int, total: int) -> str:
    width = len(str(total))
    head = f"[{index:>{width}}/{total}] {report.status.upper() if not report.ok else report.status:<11} {report.name}"
    if report.status == OK:
        return f"{head}: {report.instances} instances, {report.points} points, {report.seconds:.1f} s"
    if report.status == SKIPPED:
        return f"{head}: {report.message}"
    where = f"{report.step}: " if report.step else ""
    log = f"; log {report.log}" if report.log else ""
    return f"{head}: {where}{_first_line(report.message)} ({report.seconds:.1f} s{log})"


def summary_table(reports: list[ScanReport], wall_s: float) -> str:
    rows = [("scan", "status", "instances", "points", "time s", "note")]
    for r in reports:
        note = r.message if r.status == SKIPPED else (f"{r.step}: " if r.step else "") + r.message
        rows.append((r.name, r.status, "-" if r.instances is None else str(r.instances),
                     "-" if r.points is None else str(r.points), f"{r.seconds:.1f}",
                     "" if r.status == OK else _first_line(note, 70)))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for k, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2]),
                 row[3].rjust(widths[3]), row[4].rjust(widths[4]), row[5]]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    counts = {s: sum(r.status == s for r in reports) for s in (OK, FAILED, SKIPPED, INTERRUPTED)}
    done = counts[OK]
    rate = f", {3600.0 * done / wall_s:.0f} scans/hour" if done and wall_s > 0 else ""
    lines.append(f"{len(reports)} scans: {counts[OK]} ok, {counts[FAILED]} failed, {counts[SKIPPED]} skipped"
                 + (f", {counts[INTERRUPTED]} interrupted" if counts[INTERRUPTED] else "")
                 + f"; {sum(r.instances or 0 for r in reports if r.status == OK)} instances; "
                 + f"{wall_s:.1f} s wall{rate}")
    return "\n".join(lines)
