"""Compile time and peak memory of the Qblox compiler, 10^2 to 10^5 operations.

    python -m bench.compile_scaling                 # every family and size (a few minutes)
    python -m bench.compile_scaling --quick         # sizes up to 10^3, short budgets
    python -m bench.compile_scaling --json out.json --families sweep,mux4

For each family (see :mod:`bench.schedules`) and size it measures, best of N:

- ``build``: constructing the schedule with the builder (``Schedule.add``);
- ``json``: ``Schedule.model_validate_json`` of the schedule's JSON;
- ``wire``: what the daemon does on receipt, msgpack decoding plus ``Schedule.model_validate``;
- ``compile``: ``compile_schedule(schedule, hardware)``, and separately, in one run under
  tracemalloc, its peak memory.

Unrolled programs longer than a sequencer holds (QRM 12288, QCM 16384 instructions) are
refused by the compiler with INSTRUCTION_LIMIT_EXCEEDED. Such rows are marked ``over limit``
and are timed with the limit check lifted (see :func:`bench.measure.instruction_limit_lifted`),
so they measure the same work quantify-scheduler 0.28 does (it compiles them with a warning).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench import measure
from bench.machine import describe
from bench.schedules import FAMILIES, HARDWARE_CONFIG, Family, family
from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.protocol import codec
from qconductor.protocol.compiled import CompiledJob
from qconductor.protocol.errors import QconductorError
from qconductor.protocol.hardware import HardwareConfig, load_hardware_config
from qconductor.protocol.schedule import Schedule

# Instructions a sequencer holds (QBLOX_FACTS.md), to show how far a row is from the limit.
HARDWARE_LIMITS = {"QCM": 16384, "QRM": 12288, "QCM_RF": 16384, "QRM_RF": 12288}
QUICK_MAX_OPS = 1_000
STAGES = ("build", "json", "wire", "compile")


@dataclass(frozen=True)
class Row:
    family: str
    requested: int
    ops: int
    build: measure.Timing
    json: measure.Timing
    wire: measure.Timing
    compile: measure.Timing
    peak_bytes: int
    instructions: int  # of the longest sequencer program
    module_type: str  # of that sequencer
    status: str  # "ok", "over limit" or "over limit, timed to the error"

    def stage(self, name: str) -> measure.Timing:
        timing: measure.Timing = getattr(self, name)
        return timing


def measure_case(
    fam: Family,
    n_ops: int,
    hardware: HardwareConfig,
    *,
    budget_s: float,
    export: Path | None,
    warm: bool = False,
) -> Row:
    schedule = fam.build(n_ops)
    # The compile first: measured after the build and validation loops below, the same
    # compile ran up to 20 % slower (most likely the heap those loops leave behind).
    compiled = measure_compile(schedule, hardware, budget_s=budget_s, warm=warm)
    text = schedule.model_dump_json()
    if Schedule.model_validate_json(text) != schedule:
        raise AssertionError(f"{fam.name}/{n_ops}: the JSON round trip changed the schedule")
    frames = codec.encode(schedule.model_dump())
    if export is not None:
        export.mkdir(parents=True, exist_ok=True)
        (export / f"{fam.name}_{n_ops}.json").write_text(text, encoding="utf-8")
    return Row(
        fam.name,
        n_ops,
        len(schedule.operations),
        build=measure.best_of(lambda: fam.build(n_ops), budget_s=budget_s),
        json=measure.best_of(lambda: Schedule.model_validate_json(text), budget_s=budget_s),
        wire=measure.best_of(
            lambda: Schedule.model_validate(codec.decode(frames)), budget_s=budget_s
        ),
        compile=compiled.timing,
        peak_bytes=compiled.peak_bytes,
        instructions=compiled.instructions,
        module_type=compiled.module_type,
        status=compiled.status,
    )


@dataclass(frozen=True)
class CompileResult:
    timing: measure.Timing
    peak_bytes: int
    instructions: int  # of the longest sequencer program, -1 if unknown
    module_type: str
    status: str


def measure_compile(
    schedule: Schedule, hardware: HardwareConfig, *, budget_s: float, warm: bool = False
) -> CompileResult:
    """Time ``compile_schedule`` and take its peak memory; over the instruction limit, with
    the limit lifted (or, if that is impossible, up to the error). ``warm``: back to back,
    without a collection (and its cache eviction) before each run."""

    def run() -> CompiledJob:
        return compile_schedule(schedule, hardware)

    try:
        job = run()
    except QconductorError as exc:
        if not measure.is_instruction_limit_error(exc):
            raise
    else:
        return CompileResult(
            measure.best_of(run, budget_s=budget_s, collect=not warm),
            measure.peak_bytes(run),
            *measure.max_instructions(job),
            "ok",
        )
    with measure.instruction_limit_lifted() as lifted:
        if lifted:
            return CompileResult(
                measure.best_of(run, budget_s=budget_s, collect=not warm),
                measure.peak_bytes(run),
                *measure.max_instructions(run()),
                "over limit",
            )

    def to_error() -> None:
        try:
            run()
        except QconductorError:
            return

    return CompileResult(
        measure.best_of(to_error, budget_s=budget_s, collect=not warm),
        measure.peak_bytes(to_error),
        -1,
        "",
        "over limit, timed to the error",
    )


def exponent(rows: Sequence[Row], stage: str, min_ops: int = 1_000) -> float | None:
    """Slope of log(time) against log(ops), over rows with at least ``min_ops`` operations
    (fixed costs flatten the small sizes) when there are two such sizes, else over all rows."""
    chosen = [r for r in rows if r.ops >= min_ops]
    if len({r.ops for r in chosen}) < 2:
        chosen = list(rows)
    if len({r.ops for r in chosen}) < 2:
        return None
    x = np.log([r.ops for r in chosen])
    y = np.log([r.stage(stage).best_s for r in chosen])
    slope = float(np.polyfit(x, y, 1)[0])
    return slope if math.isfinite(slope) else None


# --- output -------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


HEADER = (
    f"{'family':<8}{'ops':>8}{'build ms':>10}{'json ms':>9}{'wire ms':>9}{'compile ms':>11}"
    f"{'runs':>6}{'us/op':>7}{'peak MiB':>10}{'instr/seq':>11}  note"
)


def format_row(r: Row) -> str:
    instr = f"{r.instructions}" if r.instructions >= 0 else "?"
    limit = HARDWARE_LIMITS.get(r.module_type)
    note = r.status if limit is None else f"{r.status} ({r.module_type} holds {limit})"
    if r.status == "ok":
        note = ""
    return (
        f"{r.family:<8}{r.ops:>8}{_ms(r.build.best_s):>10}{_ms(r.json.best_s):>9}"
        f"{_ms(r.wire.best_s):>9}{_ms(r.compile.best_s):>11}{r.compile.runs:>6}"
        f"{r.compile.best_s / r.ops * 1e6:>7.1f}{r.peak_bytes / 2**20:>10.1f}{instr:>11}  {note}"
    )


def exponents(rows: Sequence[Row]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for name in dict.fromkeys(r.family for r in rows):
        mine = [r for r in rows if r.family == name]
        out[name] = {stage: exponent(mine, stage) for stage in STAGES}
        out[name]["compile_all_sizes"] = exponent(mine, "compile", min_ops=0)
    return out


def print_exponents(table: dict[str, dict[str, float | None]]) -> None:
    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    print("\nscaling exponents: slope of log(best time) vs log(ops), over sizes >= 10^3")
    print(f"{'family':<8}{'build':>7}{'json':>7}{'wire':>7}{'compile':>9}{'(all sizes)':>13}")
    for name, e in table.items():
        print(
            f"{name:<8}{fmt(e['build']):>7}{fmt(e['json']):>7}{fmt(e['wire']):>7}"
            f"{fmt(e['compile']):>9}{fmt(e['compile_all_sizes']):>13}"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.compile_scaling", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--quick", action="store_true", help="sizes up to 10^3 and short budgets")
    p.add_argument(
        "--warm",
        action="store_true",
        help="time compiles back to back, without a full collection before each (see measure)",
    )
    p.add_argument("--families", default=",".join(f.name for f in FAMILIES), help="comma list")
    p.add_argument("--max-ops", type=int, default=None, help="skip larger sizes")
    p.add_argument("--budget", type=float, default=None, help="seconds per timed quantity")
    p.add_argument("--hardware", type=Path, default=HARDWARE_CONFIG, help="hardware config")
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="write results")
    p.add_argument("--label", default=None, help="what is measured (e.g. a commit), for the record")
    p.add_argument(
        "--export-schedules",
        type=Path,
        default=None,
        metavar="DIR",
        help="write each schedule as JSON (to compile the same schedules elsewhere)",
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    max_ops = args.max_ops if args.max_ops is not None else (QUICK_MAX_OPS if args.quick else None)
    budget = args.budget if args.budget is not None else (0.2 if args.quick else 2.0)
    hardware = load_hardware_config(args.hardware)
    families = [family(name.strip()) for name in args.families.split(",") if name.strip()]

    machine = describe()
    print(
        f"qconductor {machine['qconductor']} ({machine['qconductor_path']}, "
        f"git {machine['qconductor_git']}) · Python {machine['python']} · {machine['cpu']} "
        f"× {machine['nproc']} · {machine['ram_gib']} GiB · {machine['date']}"
    )
    if args.label:
        print(f"label: {args.label}")
    mode = "back to back (--warm)" if args.warm else "a full collection before each"
    print(
        f"hardware config {args.hardware}; best of N runs, N adaptive ({budget} s budget); "
        f"compiles timed {mode}\n"
    )
    print(HEADER)
    rows: list[Row] = []
    for fam in families:
        for n_ops in fam.sizes:
            if max_ops is not None and n_ops > max_ops:
                continue
            row = measure_case(
                fam, n_ops, hardware, budget_s=budget, export=args.export_schedules, warm=args.warm
            )
            rows.append(row)
            print(format_row(row), flush=True)
    table = exponents(rows)
    print_exponents(table)
    if args.json is not None:
        result = {
            "command": " ".join(["python -m bench.compile_scaling", *sys.argv[1:]]),
            "label": args.label,
            "machine": machine,
            "hardware_config": str(args.hardware),
            "budget_s": budget,
            "warm": args.warm,
            "rows": [dataclasses.asdict(r) for r in rows],
            "exponents": table,
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
