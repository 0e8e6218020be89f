"""Rewrite every golden file: ``python -m tests.golden.regenerate`` (``make goldens``).

Writes ``tests/golden/expected/<name>.json`` for every corpus entry, removes expected files
whose entry is gone, and rewrites ``docs/compiled-job.schema.json``. Review the diff before
committing: every changed line is a change in what the compiler emits.

The golden format is the compiled job as :func:`~qconductor.daemon.compile_cmd.render_json`
writes it (sorted keys, one entry per line), with two changes that keep the diff readable and
stable:

- each ``program`` is a list of its lines, so a changed instruction is a changed line;
- waveform and weight samples are rounded to 12 digits after the point (samples are fractions
  of full scale, so that is 12 significant digits at full scale, and float noise near zero
  becomes 0.0), so a change of numpy or of the CPU's math library does not churn the files.

The ``content_hash`` stays in: it changes when the compiler version, the schedule's
serialisation or the hardware config changes, and that is worth seeing in a review.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path
from typing import Any

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.daemon.compile_cmd import compiled_job_schema_text, render_json
from qconductor.protocol.compiled import CompiledJob
from qconductor.protocol.hardware import HardwareConfig, load_hardware_config
from tests.golden.corpus import CORPUS

REPO = Path(__file__).resolve().parents[2]
HARDWARE_DIR = REPO / "config" / "hardware"
EXPECTED_DIR = Path(__file__).resolve().parent / "expected"
SCHEMA_PATH = REPO / "docs" / "compiled-job.schema.json"
SAMPLE_DECIMALS = 12


@cache
def hardware(file_name: str) -> HardwareConfig:
    return load_hardware_config(HARDWARE_DIR / file_name)


def compile_entry(name: str) -> CompiledJob:
    """Compile the corpus entry ``name`` (raises ``QconductorError`` if it does not compile)."""
    builder, hardware_file = CORPUS[name]
    return compile_schedule(builder(), hardware(hardware_file))


def expected_path(name: str) -> Path:
    return EXPECTED_DIR / f"{name}.json"


def golden_text(job: CompiledJob) -> str:
    """The job in the golden format (see the module docstring)."""
    data = job.model_dump(mode="json")
    for cluster in data["clusters"]:
        for module in cluster["modules"]:
            for seq in module["sequencers"]:
                if seq["sequence"] is not None:
                    _normalise_sequence(seq["sequence"])
    return render_json(data)


def _normalise_sequence(sequence: dict[str, Any]) -> None:
    sequence["program"] = sequence["program"].splitlines()
    for table in ("waveforms", "weights"):
        for entry in sequence[table].values():
            entry["data"] = [round(x, SAMPLE_DECIMALS) + 0.0 for x in entry["data"]]


def main() -> int:
    EXPECTED_DIR.mkdir(parents=True, exist_ok=True)
    targets = {expected_path(name): golden_text(compile_entry(name)) for name in sorted(CORPUS)}
    targets[SCHEMA_PATH] = compiled_job_schema_text()
    changed = 0
    for path, text in targets.items():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        changed += 1
        print(f"wrote {path.relative_to(REPO)}")
    orphans = sorted(set(EXPECTED_DIR.glob("*.json")) - set(targets))
    for path in orphans:
        path.unlink()
        print(f"removed {path.relative_to(REPO)} (no corpus entry)")
    print(
        f"{len(targets)} golden files: {changed} rewritten, {len(orphans)} removed; "
        "review them with `git diff tests/golden/expected docs`"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
