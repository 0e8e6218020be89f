"""Shared cases of the RF / real-mode / mixer compiler tests: transmon_full.json with clocks
that fit its frequency plan, small baseband configs, and accessors into a compiled job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.protocol.compiled import CompiledJob, ModuleProgram, SequencerProgram
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.hardware import HardwareConfig, ModuleType, load_hardware_config
from qconductor.protocol.schedule import Schedule, SquarePulse

TRANSMON = Path(__file__).resolve().parents[3] / "config" / "hardware" / "transmon_full.json"
# Clocks of transmon_full.json's port-clocks: RF = LO + IF with the configured IF or LO.
CLOCKS = {
    "q0.01": 6.1e9,  # external LO lo_drive, IF 100 MHz -> LO 6.0 GHz
    "q0.ro": 7.3e9,  # external LO lo_readout at 7.2 GHz
    "q1.01": 5.1e9,  # QCM-RF out0, LO 5.0 GHz
    "q2.01": 5.2e9,  # QCM-RF out0, LO 5.0 GHz
    "q3.01": 5.05e9,  # QCM-RF out1, IF 50 MHz -> LO 5.0 GHz
    "q1.ro": 7.6e9,  # QRM-RF, LO 7.5 GHz
    "q2.ro": 7.7e9,
    "cl0.baseband": 0.0,
}


def transmon_raw() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(TRANSMON.read_text())
    return raw


def sched(*ops: tuple[Any, int], repetitions: int = 1) -> Schedule:
    s = Schedule(name="t", repetitions=repetitions, clocks=dict(CLOCKS))
    for op, at in ops:
        s.add(op, at=at)
    return s


def square(port: str, clock: str, **kw: Any) -> SquarePulse:
    return SquarePulse(
        port=port, clock=clock, amplitude=kw.pop("amplitude", 0.4), duration=40, **kw
    )


def module(job: CompiledJob, slot: int) -> ModuleProgram:
    return next(m for c in job.clusters for m in c.modules if m.slot == slot)


def seq(job: CompiledJob, port: str) -> SequencerProgram:
    return next(s for c in job.clusters for m in c.modules for s in m.sequencers if s.port == port)


def baseband(modules: dict[int, ModuleType], graph: list[Any], **options: Any) -> HardwareConfig:
    return load_hardware_config(
        {
            "version": "0.2",
            "hardware_description": {
                "cluster0": {
                    "instrument_type": "Cluster",
                    "ref": "internal",
                    "modules": {str(k): {"instrument_type": v} for k, v in modules.items()},
                }
            },
            "hardware_options": options,
            "connectivity": {"graph": graph},
        }
    )


def failure(schedule: Schedule, hardware: HardwareConfig) -> list[tuple[ErrorCode, str]]:
    with pytest.raises(QconductorError) as info:
        compile_schedule(schedule, hardware)
    return [(d.code, d.path) for d in info.value.details if d.severity == "error"]


def program(job: CompiledJob, port: str) -> list[str]:
    sequence = seq(job, port).sequence
    assert sequence is not None
    return [line.split(":")[-1].strip() for line in sequence.program.splitlines()]
