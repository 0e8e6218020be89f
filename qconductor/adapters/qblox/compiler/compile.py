"""The compiler's passes, in order: allocate -> timelines -> programs -> settings -> job.

Each pass reads the schedule and hardware config and adds to a shared :class:`Diagnostics`;
compilation stops after the first pass that found errors, reporting all of that pass's errors.
The module is pure: no I/O, no driver, so it runs in a worker process.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field

from qconductor.adapters.qblox.compiler.assign import Allocation, allocate
from qconductor.adapters.qblox.compiler.diagnostics import Diagnostics
from qconductor.adapters.qblox.compiler.emit import emit_program
from qconductor.adapters.qblox.compiler.ir import Loop
from qconductor.adapters.qblox.compiler.settings import (
    MODULE_IO,
    WAVEFORM_MEMORY,
    off_settings,
    sequencer_settings,
)
from qconductor.adapters.qblox.compiler.timeline import SequencerTimeline, build_timeline
from qconductor.protocol.compiled import (
    AcquisitionEntry,
    AcquisitionSpec,
    ClusterProgram,
    CompiledJob,
    ModuleProgram,
    ProgramStats,
    SequenceDict,
    SequencerProgram,
    WaveformEntry,
)
from qconductor.protocol.errors import ErrorCode
from qconductor.protocol.hardware import HardwareConfig
from qconductor.protocol.schedule import Schedule

COMPILER_VERSION = "1"


@dataclass
class _Compiled:
    alloc: Allocation
    timeline: SequencerTimeline
    program: SequencerProgram


@dataclass
class _Jobs:
    by_module: dict[tuple[str, int], list[_Compiled]] = field(
        default_factory=lambda: defaultdict(list)
    )


def compile_schedule(schedule: Schedule, hardware: HardwareConfig) -> CompiledJob:
    """Compile ``schedule`` for ``hardware``; raise ``QconductorError`` with every diagnostic."""
    diag = Diagnostics()
    allocations = allocate(schedule, hardware, diag)
    diag.raise_if_errors()

    timelines = {key: build_timeline(a.name, a.ops, diag) for key, a in allocations.items()}
    diag.raise_if_errors()
    repetition = max([schedule.duration, *(tl.end for tl in timelines.values())])

    compiled = _Jobs()
    for key, alloc in allocations.items():
        tl = timelines[key]
        program = _sequencer_program(alloc, tl, schedule, repetition, diag)
        compiled.by_module[(alloc.cluster, alloc.slot)].append(_Compiled(alloc, tl, program))
    diag.raise_if_errors()

    return CompiledJob(
        schedule_name=schedule.name,
        repetitions=schedule.repetitions,
        repetition_duration_ns=repetition,
        clusters=_clusters(compiled, hardware),
        acquisitions=_acquisitions(compiled, diag),
        content_hash=content_hash(schedule, hardware),
        warnings=diag.warnings,
    )


def content_hash(schedule: Schedule, hardware: HardwareConfig) -> str:
    h = hashlib.sha256(COMPILER_VERSION.encode())
    h.update(schedule.model_dump_json().encode())
    h.update(json.dumps(hardware.dump(), sort_keys=True).encode())
    return h.hexdigest()


def _sequencer_program(
    alloc: Allocation,
    tl: SequencerTimeline,
    schedule: Schedule,
    repetition: int,
    diag: Diagnostics,
) -> SequencerProgram:
    io = MODULE_IO[alloc.module_type]
    if tl.waveforms.samples > WAVEFORM_MEMORY:
        diag.error(
            ErrorCode.WAVEFORM_MEMORY_EXCEEDED,
            f"{alloc.name} needs {tl.waveforms.samples} waveform samples (I and Q counted "
            f"separately); a sequencer holds {WAVEFORM_MEMORY}",
            f"operations[{alloc.ops[0][0]}]",
            hint="shorten pulses or reuse shapes (equal shapes are stored once)",
        )
    loop = Loop(label="rep", count=schedule.repetitions, body=tl.block(repetition))
    text, instructions = emit_program(loop)
    if instructions > io.max_instructions:
        diag.error(
            ErrorCode.INSTRUCTION_LIMIT_EXCEEDED,
            f"{alloc.name} needs {instructions} instructions; a {alloc.module_type} sequencer "
            f"holds {io.max_instructions}",
            f"operations[{alloc.ops[0][0]}]",
            hint="use fewer operations per repetition on this port and clock",
        )
    sequence = SequenceDict(
        waveforms={
            f"wf{i}": WaveformEntry(data=a.tolist(), index=i)
            for i, a in enumerate(tl.waveforms.arrays)
        },
        acquisitions={
            str(ch): AcquisitionEntry(num_bins=use.num_bins, index=use.acq_index)
            for ch, use in tl.acq_channels.items()
        },
        program=text,
    )
    settings = sequencer_settings(
        alloc.module_type,
        outputs=alloc.outputs if tl.has_pulses else [],
        inputs=alloc.inputs if tl.has_acquisitions else [],
        nco_freq=alloc.nco_freq,
        modulate=tl.has_pulses,
        demodulate=tl.has_acquisitions,
        integration_length=tl.integration_length,
    )
    stats = ProgramStats(
        instructions=instructions,
        waveform_samples=tl.waveforms.samples,
        bins=sum(u.num_bins for u in tl.acq_channels.values()),
    )
    return SequencerProgram(
        index=alloc.index,
        port=alloc.port,
        clock=alloc.clock,
        channels=sorted({*alloc.outputs, *alloc.inputs}),
        sequence=sequence,
        settings=settings,
        stats=stats,
    )


def _clusters(compiled: _Jobs, hardware: HardwareConfig) -> list[ClusterProgram]:
    """Every module of every cluster the job uses; unused sequencers explicitly off."""
    used_clusters = sorted({cluster for cluster, _ in compiled.by_module})
    out: list[ClusterProgram] = []
    for cluster in used_clusters:
        modules: list[ModuleProgram] = []
        for mod_cluster, slot, module_type in sorted(hardware.modules()):
            if mod_cluster != cluster or module_type not in MODULE_IO:
                continue
            used = {c.alloc.index: c.program for c in compiled.by_module.get((cluster, slot), [])}
            sequencers = [
                used.get(i) or SequencerProgram(index=i, settings=off_settings(module_type))
                for i in range(MODULE_IO[module_type].sequencers)
            ]
            modules.append(ModuleProgram(slot=slot, module_type=module_type, sequencers=sequencers))
        out.append(ClusterProgram(name=cluster, modules=modules))
    return out


def _acquisitions(compiled: _Jobs, diag: Diagnostics) -> list[AcquisitionSpec]:
    specs: dict[int, AcquisitionSpec] = {}
    for items in compiled.by_module.values():
        for c in items:
            for channel, use in c.timeline.acq_channels.items():
                if channel in specs:
                    other = specs[channel]
                    diag.error(
                        ErrorCode.SCHEDULE_INVALID,
                        f"acquisition channel {channel} is acquired on {c.alloc.port} "
                        f"({c.alloc.clock}) and on {other.port} ({other.clock}); "
                        "one channel must come from one port and clock",
                        f"operations[{c.alloc.ops[0][0]}].op.acq_channel",
                        hint="give each port-clock its own acquisition channels",
                    )
                    continue
                specs[channel] = AcquisitionSpec(
                    acq_channel=channel,
                    kind="ssb_integration",
                    bin_mode="average",
                    num_bins=use.num_bins,
                    cluster=c.alloc.cluster,
                    slot=c.alloc.slot,
                    sequencer=c.alloc.index,
                    acq_name=str(channel),
                    acq_index=use.acq_index,
                    integration_length=c.timeline.integration_length or 0,
                    port=c.alloc.port,
                    clock=c.alloc.clock,
                )
    diag.raise_if_errors()
    return [specs[k] for k in sorted(specs)]
