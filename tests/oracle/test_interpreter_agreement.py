"""Oracle: interpreter agreement with q1simulator on when each pulse plays, for the compiler's
golden corpus (QCM/QRM modules; q1simulator has no RF).

From the interpreter's trace alone the baseband envelope of each sequencer is rebuilt (each play's
waveforms times its gains, cut by the next play, plus the offsets in force). Wherever that
envelope is clearly non-zero q1simulator's output must be too, and wherever it is exactly zero
q1simulator's must be silent: so every play starts and ends on the same nanosecond. Every
acquisition window must match q1simulator's exactly. Both cover what q1simulator renders (the
first 2 ms).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import pytest

from qconductor.adapters.virtual.interpreter import interpret_sequencer
from qconductor.adapters.virtual.trace import Event
from qconductor.protocol.compiled import CompiledJob
from tests.oracle.compiled import seq_specs
from tests.oracle.q1sim import run_module
from tests.unit.virtual.test_interpreter import golden_jobs

pytestmark = pytest.mark.timeout(300)

CLEARLY_ON = 0.05  # baseband magnitude, fraction of full scale
SIMULATED_ON = 0.01  # q1simulator magnitude, fraction of full scale (after 1/sqrt(2) NCO)
SILENT = 1e-9


def _baseband_only(job: CompiledJob) -> bool:
    return all(m.module_type in ("QCM", "QRM") for c in job.clusters for m in c.modules)


# many_repetitions: q1simulator executes all 1e6 repetitions (~40 s) although it renders 2 ms
SLOW: Final = frozenset({"many_repetitions"})
CASES = [(n, job) for n, job in golden_jobs() if _baseband_only(job) and n not in SLOW]


def envelope(events: list[Event], length: int) -> npt.NDArray[np.float64]:
    """|baseband| per ns, rebuilt from the trace alone."""
    base = np.zeros(length, dtype=np.complex128)
    for event, until in zip(events, [*(e.time for e in events[1:]), length], strict=False):
        base[event.time : min(until, length)] += complex(*event.offset)
    plays = [e for e in events if e.kind == "play"]
    for play, until in zip(plays, [*(e.time for e in plays[1:]), length], strict=False):
        assert play.wave_data is not None
        w0, w1 = play.wave_data
        n = max(len(w0), len(w1))
        seg = np.zeros(n, dtype=np.complex128)
        seg[: len(w0)] += play.gain[0] * w0
        seg[: len(w1)] += 1j * play.gain[1] * w1
        stop = min(play.time + n, until, length)
        if stop > play.time:
            base[play.time : stop] += seg[: stop - play.time]
    return np.abs(base)


@pytest.mark.parametrize(("name", "job"), CASES, ids=[name for name, _ in CASES])
def test_plays_and_acquisitions_agree_with_q1simulator(name: str, job: CompiledJob) -> None:
    for module in job.clusters[0].modules:
        run = run_module(module.module_type, seq_specs(module))  # type: ignore[arg-type]
        assert run.errors == [], run.errors
        for seq in module.sequencers:
            if not seq.used:
                continue
            trace = interpret_sequencer(seq, f"modules[{module.slot}].sequencers[{seq.index}]")
            paths = run.paths[seq.index]
            length = min((len(a) for a in paths.values()), default=run.end_times[seq.index])
            events = [e for e in trace.events() if e.time < length]
            if paths:  # a sequencer routed to no output renders no paths
                check_plays(events, paths, length, run.full_scale_v, f"{name} {module.slot}")
            windows = [
                (e.time, e.time + e.length)
                for e in events
                if e.kind in ("acquire", "acquire_weighed") and e.length is not None
            ]
            assert windows == [w for w in run.acq_windows.get(seq.index, []) if w[0] < length]


def check_plays(
    events: list[Event],
    paths: dict[int, npt.NDArray[np.float64]],
    length: int,
    full_scale: float,
    where: str,
) -> None:
    simulated = np.hypot(paths[0][:length], paths[1][:length]) / full_scale
    mine = envelope(events, length)
    late = np.flatnonzero((mine > CLEARLY_ON) & (simulated < SIMULATED_ON))
    assert late.size == 0, f"{where}: q1simulator silent at {late[:5]} ns"
    extra = np.flatnonzero((mine == 0) & (simulated > SILENT))
    assert extra.size == 0, f"{where}: q1simulator plays at {extra[:5]} ns"
