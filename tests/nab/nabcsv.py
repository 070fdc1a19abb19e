"""Reading a NAB-style data file with its timestamps parsed, for gappy.py and resample.py.

NAB's files are `timestamp,value` CSVs whose timestamps are `YYYY-MM-DD HH:MM:SS` (label windows
add `.000000`); a few repeat a timestamp or go back once, so the typical spacing is the median
gap between neighbouring rows.
"""
import statistics
from datetime import datetime


def parse(stamp):
    """A timestamp of a data row or a label window."""
    return datetime.fromisoformat(stamp.strip())


def read(path):
    """The file's header line, its rows as [timestamp, value] strings, their parsed timestamps,
    and the median gap between rows in seconds."""
    header, *lines = path.read_text().splitlines()
    rows = [line.split(",", 1) for line in lines if line.strip()]
    stamps = [parse(t) for t, _ in rows]
    step = statistics.median((b - a).total_seconds() for a, b in zip(stamps, stamps[1:]))
    return header, rows, stamps, step
