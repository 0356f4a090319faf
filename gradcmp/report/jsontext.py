"""The JSON exporter: strict JSON of the records, the same a results file holds. A `run` (a sweep of
one configuration, no file) prints its one Run record, which `compare` and `--baseline` read too."""
from __future__ import annotations

from gradcmp.records import dumps


def json_text(sweep) -> str:
    if sweep.path is None and len(sweep.entries) == 1:
        return dumps(sweep.entries[0].run.to_json())
    return dumps(sweep.saved)
