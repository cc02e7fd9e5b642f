"""Rows of whitespace-separated numbers (ASCII PCD/PLY bodies), checked row by row.

A row with one value too many or too few would otherwise shift every later row silently;
here it is an error naming the line. Token counting is vectorised over the bytes (no
per-line Python loop), so a million-row file is checked in milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ScanError

_SPACE = np.zeros(256, dtype=bool)
_SPACE[list(b" \t\r\n\x0b\x0c")] = True


def row_token_counts(body: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(line index of each non-empty line, tokens on it), lines counted from 0 in `body`."""
    buf = np.frombuffer(body, dtype=np.uint8)
    if not len(buf):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    space = _SPACE[buf]
    starts = np.flatnonzero(~space & np.concatenate(([True], space[:-1])))
    newline_before = np.concatenate(([0], np.cumsum(buf == 10)))
    line_of_token = newline_before[starts]
    lines, counts = np.unique(line_of_token, return_counts=True)
    return lines, counts


def parse_rows(path: Path, body: bytes, width: int, rows: int, first_line: int, what: str,
               exact_end: bool = True) -> tuple[np.ndarray, int]:
    """The first `rows` non-empty lines of `body` as a rows x width float64 table, and the
    number of bytes they span. `first_line` is the file's line number of body's first line."""
    lines, counts = row_token_counts(body)
    if len(lines) < rows:
        raise ScanError(path, f"{what}: {len(lines)} rows, {rows} expected (file truncated?)")
    bad = np.flatnonzero(counts[:rows] != width)
    if len(bad):
        i = bad[0]
        raise ScanError(path, f"line {first_line + lines[i]}: {counts[i]} values, {width} expected ({what})")
    if exact_end and len(lines) > rows:
        raise ScanError(path, f"line {first_line + lines[rows]}: {len(lines) - rows} row(s) more than the "
                              f"{rows} declared ({what})")
    if rows == 0:
        return np.zeros((0, width)), 0
    # the byte where the line after the last row starts
    newlines = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == 10)
    last = lines[rows - 1]
    stop = int(newlines[last]) + 1 if last < len(newlines) else len(body)
    tokens = body[:stop].split()
    try:
        table = np.array(tokens, dtype=np.float64).reshape(rows, width)
    except ValueError:
        bad_token = next((t for t in tokens if not _is_number(t)), b"?")
        raise ScanError(path, f"{what}: non-numeric value {bad_token[:20]!r}") from None
    return table, stop


def _is_number(token: bytes) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False
