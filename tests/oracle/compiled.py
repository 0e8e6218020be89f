"""Bridges from a compiled job to q1simulator runs, and the expected signal of a schedule.

The expected output is computed from the schedule alone (envelopes, clock frequencies, the
q1simulator conventions documented in ``q1sim.py``), never from the compiler's output, so the
comparison is an independent check of the compiled programs.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import numpy.typing as npt

from qconductor.adapters.qblox.compiler.emit import PREAMBLE_NS
from qconductor.adapters.qblox.compiler.waveforms import envelope
from qconductor.protocol.compiled import CompiledJob, ModuleProgram
from qconductor.protocol.schedule import Pulse, Schedule, SSBIntegrationComplex
from tests.oracle.q1sim import FULL_SCALE_V, ModuleRun, Route, SeqSpec, run_module
from tests.oracle.q1sim import ModuleType as SimModuleType


def module_of(job: CompiledJob, slot: int) -> ModuleProgram:
    (cluster,) = job.clusters
    return next(m for m in cluster.modules if m.slot == slot)


def seq_specs(module: ModuleProgram) -> list[SeqSpec]:
    specs = []
    for seq in module.sequencers:
        if seq.sequence is None:
            continue
        s = seq.settings
        routes = {
            k: cast(Route, getattr(s, f"connect_out{k}"))
            for k in range(4)
            if getattr(s, f"connect_out{k}") is not None
        }
        specs.append(
            SeqSpec(
                index=seq.index,
                sequence=seq.sequence.to_driver(),
                nco_freq=s.nco_freq,
                mod_en_awg=s.mod_en_awg,
                demod_en_acq=bool(s.demod_en_acq),
                connect_out=routes,
                integration_length_acq=s.integration_length_acq,
            )
        )
    return specs


def run_compiled(job: CompiledJob, slot: int) -> ModuleRun:
    module = module_of(job, slot)
    return run_module(cast(SimModuleType, module.module_type), seq_specs(module))


def expected_iq(
    schedule: Schedule, port: str, module_type: SimModuleType, length: int, rep_ns: int
) -> npt.NDArray[np.complex128]:
    """The complex signal (I + jQ, volts) q1simulator should render for ``port``.

    The NCO phase restarts at each repetition (``reset_ph``), and schedule time 0 of a
    repetition is ``PREAMBLE_NS`` after its start.
    """
    out = np.zeros(length, dtype=np.complex128)
    full_scale = FULL_SCALE_V[module_type]
    for rep in range(schedule.repetitions):
        origin = rep * rep_ns
        for timed in schedule.operations:
            op = timed.op
            if isinstance(op, SSBIntegrationComplex) or op.kind == "idle" or op.port != port:
                continue
            pulse: Pulse = op
            freq = schedule.clocks[pulse.clock]
            start = origin + PREAMBLE_NS + timed.start
            k = np.arange(start, start + pulse.duration)
            since_reset = (k - origin) * 1e-9
            env = pulse.amplitude * envelope(pulse) * np.exp(1j * np.deg2rad(pulse.phase))
            out[k] += env * np.exp(2j * np.pi * freq * since_reset) / np.sqrt(2) * full_scale
    return out
