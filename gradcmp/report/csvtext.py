"""The CSV exporter: one line per row, numbers unformatted (seconds, bytes); params and counters as JSON."""
from __future__ import annotations

import csv
import io
import json

COLUMNS = ("case", "problem", "params", "dtype", "device", "threads", "strategy", "status", "reason",
           "time_s", "time_iqr_s", "repeats", "primal_time_s", "peak_bytes", "saved_bytes", "rel_error",
           "max_abs_error", "tolerance", "stats")


def csv_text(sweep) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for entry in sweep.entries:
        run = entry.run
        for result in run.results:
            writer.writerow([entry.case.number, run.problem, json.dumps(run.params), run.dtype, run.device,
                             run.threads, result.strategy, result.status, result.reason or "",
                             *("" if value is None else value for value in (
                                 result.time_s, result.time_iqr_s, result.repeats, result.primal_time_s,
                                 result.peak_bytes, result.saved_bytes, result.rel_error, result.max_abs_error,
                                 entry.case.tolerance)),
                             json.dumps(result.stats)])
    return buffer.getvalue()
