"""The CSV exporter: one line per row, numbers unformatted (seconds, bytes); params, counters and notes as JSON.

The columns are the run's identity, then every JSON field of a row (gradcmp.records.RESULT_FIELDS, from the
Result record itself, so the CSV carries what the JSON carries), then the case's tolerance.
"""
from __future__ import annotations

import csv
import io
import json

from gradcmp.records import RESULT_FIELDS

RUN_COLUMNS = ("case", "problem", "params", "dtype", "device", "threads")
COLUMNS = (*RUN_COLUMNS, *RESULT_FIELDS, "tolerance")


def _cell(value):
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, (dict, list)) else value


def csv_text(sweep) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for entry in sweep.entries:
        run = entry.run
        for result in run.results:
            writer.writerow([entry.case.number, run.problem, json.dumps(run.params), run.dtype, run.device,
                             run.threads, *(_cell(getattr(result, name)) for name in RESULT_FIELDS),
                             _cell(entry.case.tolerance)])
    return buffer.getvalue()
