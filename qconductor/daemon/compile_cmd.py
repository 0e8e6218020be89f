"""``qconductor compile``: compile a schedule offline and write the result where it can be read.

    qconductor compile SCHEDULE.json --hardware CONFIG.json [--out DIR]
    qconductor compile --print-schema

The compiled job goes to ``DIR`` (default ``./compiled/<schedule name>``) as files meant to be
inspected and diffed:

    DIR/compiled.json                                   the whole CompiledJob
    DIR/<cluster>/module<slot>/sequencer<n>.json        the driver's sequence dict
    DIR/<cluster>/module<slot>/sequencer<n>.q1asm       the program text

Sequencer files left over from an earlier compile into the same ``DIR`` are removed, so the
directory always shows one job. stdout gets a table of the used sequencers (program size,
waveform memory, bins, NCO frequency against the hardware limits) and the compile time.

Exit status: 0 compiled; 1 the schedule, the hardware config or the compilation was rejected
(every diagnostic on stderr, one per line: ``[CODE] path: message (hint)``); 2 a file could not
be read (or is not a JSON object) or the output could not be written.

The JSON written here (and the golden files under ``tests/golden``) use :func:`render_json`:
sorted keys, one key per line, numeric arrays packed several values to a line, so a diff shows
what changed and not a reflowed wall of numbers.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.adapters.qblox.q1asm import MAX_INSTRUCTIONS_QCM, MAX_INSTRUCTIONS_QRM
from qconductor.protocol.compiled import CompiledJob, SequencerProgram
from qconductor.protocol.errors import Diagnostic, ErrorCode, QconductorError, format_loc
from qconductor.protocol.hardware import HardwareConfig, load_hardware_config
from qconductor.protocol.hardware.loader import read_source
from qconductor.protocol.schedule import Schedule

__all__ = [
    "WAVEFORM_MEMORY_SAMPLES",
    "compile_cli",
    "compile_command",
    "compiled_job_json_schema",
    "compiled_job_schema_text",
    "default_out_dir",
    "render_json",
    "summary_table",
    "write_job",
]

WAVEFORM_MEMORY_SAMPLES = 16384
"""Waveform memory of one sequencer, I and Q counted separately (QBLOX_FACTS.md)."""

INSTRUCTION_LIMITS: Mapping[str, int] = {
    "QCM": MAX_INSTRUCTIONS_QCM,
    "QCM_RF": MAX_INSTRUCTIONS_QCM,
    "QRM": MAX_INSTRUCTIONS_QRM,
    "QRM_RF": MAX_INSTRUCTIONS_QRM,
}

EXIT_OK, EXIT_REJECTED, EXIT_UNREADABLE, EXIT_USAGE = 0, 1, 2, 2
_PACK_WIDTH = 100
USAGE = "usage: qconductor compile SCHEDULE --hardware CONFIG [--out DIR] | --print-schema"


class _Unreadable(Exception):
    """A file that could not be read or parsed: exit 2."""


class _Rejected(Exception):
    """Content that was read but rejected: exit 1 with every diagnostic."""

    def __init__(self, what: str, diagnostics: Sequence[Diagnostic]) -> None:
        super().__init__(what)
        self.what = what
        self.diagnostics = list(diagnostics)


# --- the command --------------------------------------------------------------------------------
def compile_command(
    schedule_path: str, hardware_path: str, out_dir: str | None
) -> tuple[int, str, str]:
    """Compile ``schedule_path`` for ``hardware_path`` and write the job under ``out_dir``
    (default :func:`default_out_dir`). Returns ``(exit code, stdout text, stderr text)``."""
    notes: list[str] = []
    try:
        schedule = _load_schedule(Path(schedule_path))
        hardware = _load_hardware(Path(hardware_path))
        notes += [f"warning: {d}" for d in hardware.warnings]
        started = time.perf_counter()
        try:
            job = compile_schedule(schedule, hardware)
        except QconductorError as exc:
            raise _Rejected(f"schedule {schedule.name!r}", _diagnostics_of(exc)) from exc
        elapsed_s = time.perf_counter() - started
    except _Unreadable as exc:
        return EXIT_UNREADABLE, "", f"qconductor compile: {exc}"
    except _Rejected as exc:
        lines = [f"qconductor compile: {exc.what} rejected ({_count(exc.diagnostics)}):"]
        lines += [str(d) for d in exc.diagnostics]
        return EXIT_REJECTED, "", "\n".join(notes + lines)
    notes += [f"warning: {d}" for d in job.warnings]

    out = Path(out_dir) if out_dir is not None else default_out_dir(schedule.name)
    try:
        written, removed = write_job(job, out)
    except OSError as exc:
        return EXIT_UNREADABLE, "", f"qconductor compile: cannot write to '{out}': {exc}"
    stdout = [summary_table(job), "", _timing(job, elapsed_s)]
    stdout.append(f"wrote {len(written)} files to {out}")
    if removed:
        stdout.append(f"removed {len(removed)} stale sequencer files from an earlier compile")
    return EXIT_OK, "\n".join(stdout), "\n".join(notes)


def compile_cli(
    schedule: str | None, hardware: str | None, out: str | None, *, print_schema: bool
) -> int:
    """What ``qconductor compile`` runs: print, and return the exit status."""
    if print_schema:
        if schedule is not None or hardware is not None or out is not None:
            print(
                f"qconductor compile: --print-schema takes no other argument\n{USAGE}",
                file=sys.stderr,
            )
            return EXIT_USAGE
        sys.stdout.write(compiled_job_schema_text())
        return EXIT_OK
    if schedule is None or hardware is None:
        print(
            f"qconductor compile: a SCHEDULE and --hardware are required\n{USAGE}", file=sys.stderr
        )
        return EXIT_USAGE
    code, stdout, stderr = compile_command(schedule, hardware, out)
    if stdout:
        print(stdout)
    if stderr:
        print(stderr, file=sys.stderr)
    return code


def default_out_dir(schedule_name: str) -> Path:
    """``./compiled/<schedule name>``, the name reduced to characters safe in a path."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", schedule_name).strip("._") or "schedule"
    return Path("compiled") / safe


# --- reading ------------------------------------------------------------------------------------
def _load_schedule(path: Path) -> Schedule:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _Unreadable(f"cannot read schedule '{path}': {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise _Unreadable(f"schedule '{path}' is not UTF-8 text") from exc
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Unreadable(
            f"schedule '{path}' is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}"
        ) from exc
    if not isinstance(raw, dict):
        raise _Unreadable(f"schedule '{path}' holds a JSON {type(raw).__name__}, not an object")
    try:
        return Schedule.model_validate(raw)
    except ValidationError as exc:
        raise _Rejected(f"schedule '{path}'", _schedule_diagnostics(exc, raw)) from exc


def _schedule_diagnostics(exc: ValidationError, raw: Any) -> list[Diagnostic]:
    return [
        Diagnostic(
            code=ErrorCode.SCHEDULE_INVALID,
            message=err["msg"],
            path=format_loc(_without_tags(err["loc"], raw)),
        )
        for err in exc.errors(include_url=False)
    ]


def _without_tags(loc: tuple[int | str, ...], raw: Any) -> list[int | str]:
    """Drop the union tag pydantic puts after ``op`` (``op.square.duration`` -> ``op.duration``):
    the segment equal to the raw operation's own ``kind``."""
    out: list[int | str] = []
    node = raw
    for part in loc:
        if out and out[-1] == "op" and isinstance(node, dict) and node.get("kind") == part:
            continue
        out.append(part)
        node = _child(node, part)
    return out


def _child(node: Any, part: int | str) -> Any:
    if isinstance(node, dict):
        return node.get(part if isinstance(part, str) else str(part))
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def _load_hardware(path: Path) -> HardwareConfig:
    try:
        raw = read_source(path)
    except QconductorError as exc:
        raise _Unreadable(exc.message) from exc
    try:
        return load_hardware_config(raw)
    except QconductorError as exc:
        raise _Rejected(f"hardware config '{path}'", _diagnostics_of(exc)) from exc


def _diagnostics_of(exc: QconductorError) -> list[Diagnostic]:
    return list(exc.details) or [exc.as_diagnostic()]


def _count(diagnostics: Sequence[Diagnostic]) -> str:
    n = len(diagnostics)
    return f"{n} error" if n == 1 else f"{n} errors"


# --- writing ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _UsedSequencer:
    cluster: str
    slot: int
    module_type: str
    program: SequencerProgram

    @property
    def name(self) -> str:
        return f"{self.cluster}.module{self.slot}.sequencer{self.program.index}"

    @property
    def directory(self) -> Path:
        return Path(self.cluster) / f"module{self.slot}"


def _used(job: CompiledJob) -> Iterator[_UsedSequencer]:
    for cluster in job.clusters:
        for module in cluster.modules:
            for seq in module.sequencers:
                if seq.sequence is not None:
                    yield _UsedSequencer(cluster.name, module.slot, module.module_type, seq)


def write_job(job: CompiledJob, out: Path) -> tuple[list[Path], list[Path]]:
    """Write the job's files under ``out``; return (written, removed stale) paths."""
    out.mkdir(parents=True, exist_ok=True)
    files: dict[Path, str] = {out / "compiled.json": render_json(job.model_dump(mode="json"))}
    for used in _used(job):
        assert used.program.sequence is not None
        base = out / used.directory / f"sequencer{used.program.index}"
        files[base.with_suffix(".json")] = render_json(used.program.sequence.to_driver())
        files[base.with_suffix(".q1asm")] = used.program.sequence.program
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    stale = [
        p
        for p in sorted(out.glob("*/module*/sequencer*"))
        if p.suffix in (".json", ".q1asm") and p.is_file() and p not in files
    ]
    for path in stale:
        path.unlink()
        for parent in (path.parent, path.parent.parent):
            if parent != out and not any(parent.iterdir()):
                parent.rmdir()
    return list(files), stale


def render_json(value: Any) -> str:
    """Stable, diff-friendly JSON text: sorted keys, one entry per line, numeric lists packed
    up to 100 columns. Round-trips through ``json.loads``; NaN and infinity are refused."""
    return _render(value, 0) + "\n"


def _render(value: Any, indent: int) -> str:
    inner = " " * (indent + 2)
    close = " " * indent
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        items = [
            f"{inner}{json.dumps(str(k))}: {_render(v, indent + 2)}"
            for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
        ]
        return "{\n" + ",\n".join(items) + "\n" + close + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            return _packed([json.dumps(v, allow_nan=False) for v in value], indent)
        items = [inner + _render(v, indent + 2) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + close + "]"
    return json.dumps(value, allow_nan=False)


def _packed(tokens: list[str], indent: int) -> str:
    inner = " " * (indent + 2)
    lines: list[str] = []
    line = ""
    for token in tokens:
        candidate = f"{line} {token}," if line else f"{token},"
        if line and len(inner) + len(candidate) > _PACK_WIDTH:
            lines.append(line)
            candidate = f"{token},"
        line = candidate
    lines.append(line)
    body = ",\n".join(inner + text.rstrip(",") for text in lines)
    return "[\n" + body + "\n" + " " * indent + "]"


# --- the summary --------------------------------------------------------------------------------
def summary_table(job: CompiledJob) -> str:
    """One row per used sequencer, then the totals."""
    header = [
        "sequencer",
        "port-clock",
        "module",
        "instructions",
        "waveform samples",
        "bins",
        "NCO (MHz)",
    ]
    rows: list[list[str]] = []
    totals = [0, 0, 0]
    for used in _used(job):
        seq = used.program
        stats = seq.stats
        instructions = stats.instructions if stats else 0
        samples = stats.waveform_samples if stats else 0
        bins = stats.bins if stats else 0
        limit = INSTRUCTION_LIMITS.get(used.module_type)
        rows.append(
            [
                used.name,
                f"{seq.port}-{seq.clock}",
                used.module_type,
                f"{instructions} / {limit}" if limit else str(instructions),
                f"{samples} / {WAVEFORM_MEMORY_SAMPLES}",
                str(bins),
                _mhz(seq.settings.nco_freq),
            ]
        )
        totals = [totals[0] + instructions, totals[1] + samples, totals[2] + bins]
    if not rows:
        return f"schedule {job.schedule_name!r}: no sequencer used"
    rows.append(["total", "", "", str(totals[0]), str(totals[1]), str(totals[2]), ""])
    return _table(header, rows, right_aligned={3, 4, 5, 6})


def _table(header: list[str], rows: list[list[str]], right_aligned: set[int]) -> str:
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]

    def line(cells: list[str]) -> str:
        parts = [
            c.rjust(w) if k in right_aligned else c.ljust(w)
            for k, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows[:-1]), rule, line(rows[-1])])


def _mhz(freq_hz: float) -> str:
    return f"{freq_hz / 1e6:.6f}".rstrip("0").rstrip(".")


def _timing(job: CompiledJob, elapsed_s: float) -> str:
    return (
        f"schedule {job.schedule_name!r}: {len(list(_used(job)))} sequencers, "
        f"{job.repetitions} x {job.repetition_duration_ns} ns = {job.duration_ns} ns; "
        f"compiled in {elapsed_s * 1e3:.1f} ms"
    )


# --- the schema ---------------------------------------------------------------------------------
def compiled_job_json_schema() -> dict[str, Any]:
    """The JSON Schema of the compiled job (``compiled.json``, ``CompiledJob``)."""
    schema = CompiledJob.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def compiled_job_schema_text() -> str:
    """The schema as printed by ``qconductor compile --print-schema`` and checked in as
    ``docs/compiled-job.schema.json``."""
    return json.dumps(compiled_job_json_schema(), indent=2) + "\n"
