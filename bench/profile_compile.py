"""Where compile time goes, for one family and size.

    python -m bench.profile_compile sweep 100000
    python -m bench.profile_compile mux4 10000 --top 30 --sort cumulative

Prints, for one ``compile_schedule`` call (schedule built and compiler warmed up first; over the
instruction limit, with the limit lifted as in :mod:`bench.compile_scaling`):

1. the compile time, the garbage collector's share of it and the time with the collector off;
2. the wall time of each pass (:func:`bench.breakdown.pass_times`, no profiler);
3. cProfile's functions with the most own time (``tottime``, default) or the most time with
   callees (``cumulative``), each with its share and call count. The collector is off while
   profiling (its pauses would land in whichever function allocated). cProfile inflates Python
   functions that are called often and not C code: for the size of a pass, trust (2).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
from collections.abc import Sequence
from contextlib import ExitStack, nullcontext
from pathlib import Path

from bench import measure
from bench.breakdown import collector_off, gc_share, pass_times
from bench.schedules import HARDWARE_CONFIG, family
from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.protocol.errors import QconductorError
from qconductor.protocol.hardware import HardwareConfig, load_hardware_config
from qconductor.protocol.schedule import Schedule

# pstats' raw entry: (primitive calls, total calls, tottime, cumtime, callers)
_Key = tuple[str, int, str]
_Entry = tuple[int, int, float, float, object]


def _where(key: _Key) -> str:
    filename, line, name = key
    if filename == "~":  # a builtin
        return name
    parts = Path(filename).parts
    for anchor in ("site-packages", "qconductor"):
        if anchor in parts:
            start = parts.index(anchor) + (anchor == "site-packages")
            return f"{name} ({'/'.join(parts[start:])}:{line})"
    return f"{name} ({parts[-1]}:{line})"


def report(stats: pstats.Stats, *, sort: str, top: int) -> list[str]:
    raw: dict[_Key, _Entry] = stats.stats  # type: ignore[attr-defined]
    total: float = stats.total_tt  # type: ignore[attr-defined]

    def weight(item: tuple[_Key, _Entry]) -> float:
        return item[1][2] if sort == "tottime" else item[1][3]

    lines = [
        f"cProfile: {total * 1e3:.0f} ms under the profiler, collector off, sorted by {sort}",
        f"{'own %':>6}{'cum %':>7}{'calls':>10}  function",
    ]
    for key, (_, calls, tottime, cumtime, _) in sorted(raw.items(), key=weight, reverse=True)[:top]:
        lines.append(f"{tottime / total:>6.1%}{cumtime / total:>7.1%}{calls:>10}  {_where(key)}")
    return lines


def _profile(schedule: Schedule, hardware: HardwareConfig, *, with_gc: bool) -> pstats.Stats:
    profiler = cProfile.Profile()
    with nullcontext() if with_gc else collector_off():
        profiler.runcall(compile_schedule, schedule, hardware)
    return pstats.Stats(profiler)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.profile_compile",
        description="Where compile time goes: garbage collector, passes, cProfile hotspots.",
    )
    p.add_argument("family", help="sweep, t1, random or mux4")
    p.add_argument("ops", type=int, help="requested number of operations")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--sort", choices=("tottime", "cumulative"), default="tottime")
    p.add_argument("--hardware", type=Path, default=HARDWARE_CONFIG)
    p.add_argument("--with-gc", action="store_true", help="keep the collector on in cProfile")
    p.add_argument("--dump", type=Path, default=None, help="write the raw pstats file")
    args = p.parse_args(argv)

    hardware = load_hardware_config(args.hardware)
    schedule = family(args.family).build(args.ops)

    def run() -> object:
        return compile_schedule(schedule, hardware)

    lines = [f"{args.family}, {len(schedule.operations)} operations"]
    with ExitStack() as stack:
        try:
            run()  # warm-up
        except QconductorError as exc:
            if not measure.is_instruction_limit_error(exc):
                raise
            if not stack.enter_context(measure.instruction_limit_lifted()):
                raise
            lines.append("over the instruction limit: measured with the limit lifted")
            run()
        on, pauses, off = gc_share(run)
        total, passes = pass_times(run)
        stats = _profile(schedule, hardware, with_gc=args.with_gc)
    lines.append(
        f"compile {on * 1e3:.0f} ms, of which {pauses.seconds * 1e3:.0f} ms "
        f"({pauses.seconds / on:.0%}) in {sum(pauses.collections)} garbage collections "
        f"(generation 0/1/2: {'/'.join(map(str, pauses.collections))}); "
        f"{off * 1e3:.0f} ms with the collector off"
    )
    lines.append(f"passes (inclusive wall time, collector off, of {total * 1e3:.0f} ms):")
    lines.extend(
        f"{pt.seconds * 1e3:>9.1f} ms {pt.seconds / total:>6.1%}{pt.calls:>7}×  {pt.name}"
        for pt in passes
    )
    lines.extend(report(stats, sort=args.sort, top=args.top))
    if args.dump is not None:
        stats.dump_stats(args.dump)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
