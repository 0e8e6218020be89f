"""The compiler on the default hardware config: what it produces and every diagnostic it gives."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.adapters.qblox.q1asm import validate_program
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.hardware import HardwareConfig, load_hardware_config
from qconductor.protocol.schedule import (
    DragPulse,
    GaussPulse,
    MarkerPulse,
    Schedule,
    SetClockFrequency,
    SquarePulse,
    SSBIntegrationComplex,
    StaircasePulse,
    VoltageOffset,
)

DEFAULT = Path(__file__).resolve().parents[3] / "config" / "hardware" / "default.json"
CLOCKS = {"q0.01": 80e6, "q1.01": -60e6, "q0.ro": 150e6, "q1.ro": 250e6}


@pytest.fixture(scope="module")
def hardware() -> HardwareConfig:
    return load_hardware_config(DEFAULT)


def bare_hardware() -> HardwareConfig:
    """The default wiring with no modulation frequencies: the NCO follows the clock."""
    raw = json.loads(DEFAULT.read_text())
    raw["hardware_options"] = {}
    return load_hardware_config(raw)


def sched(**kw: Any) -> Schedule:
    return Schedule(name="t", clocks=dict(CLOCKS), **kw)


def mw(amplitude: float = 0.5, duration: int = 20, **kw: Any) -> SquarePulse:
    return SquarePulse(port="q0:mw", clock="q0.01", amplitude=amplitude, duration=duration, **kw)


def acq(duration: int = 400, port: str = "q0:res", clock: str = "q0.ro", **kw: Any) -> Any:
    return SSBIntegrationComplex(port=port, clock=clock, duration=duration, **kw)


def test_readout_job_shape(hardware: HardwareConfig) -> None:
    s = sched(repetitions=10)
    s.add(mw())
    s.add(acq(bin_index=2), delay=100)
    job = compile_schedule(s, hardware)
    assert job.used_sequencers() == [("cluster0", 1, 0), ("cluster0", 2, 0)]
    (cluster,) = job.clusters
    assert [m.slot for m in cluster.modules] == [1, 2]
    for module in cluster.modules:
        assert len(module.sequencers) == 6
        for seq in module.sequencers[1:]:  # unused: explicitly off
            assert seq.sequence is None
            assert seq.settings.sync_en is False
            assert {v for k, v in seq.settings.parameters().items() if k.startswith("connect")} == {
                "off"
            }
    qrm = cluster.modules[1].sequencers[0]
    assert qrm.settings.integration_length_acq == 400
    assert qrm.settings.demod_en_acq is True
    assert (qrm.settings.connect_acq_I, qrm.settings.connect_acq_Q) == ("in0", "in1")
    assert job.acquisitions[0].num_bins == 3
    assert job.repetitions == 10
    for _, slot, index in job.used_sequencers():
        program = cluster.modules[slot - 1].sequencers[index].sequence
        assert program is not None
        assert validate_program(program.program) == []


def test_compilation_is_deterministic(hardware: HardwareConfig) -> None:
    s = sched()
    s.add(DragPulse(port="q0:mw", clock="q0.01", amplitude=0.3, beta=1, duration=40))
    assert compile_schedule(s, hardware) == compile_schedule(copy.deepcopy(s), hardware)
    other = copy.deepcopy(s)
    other.repetitions = 2
    assert (
        compile_schedule(other, hardware).content_hash != compile_schedule(s, hardware).content_hash
    )


def undefined_clock(s: Schedule) -> None:
    s.add(SquarePulse(port="q0:mw", clock="q9.01", amplitude=0.1, duration=20))


def port_not_connected(s: Schedule) -> None:
    s.add(SquarePulse(port="q5:mw", clock="q0.01", amplitude=0.1, duration=20))


def acquire_on_drive_port(s: Schedule) -> None:
    s.add(acq(port="q0:mw", clock="q0.01"))


def too_close(s: Schedule) -> None:
    s.add(mw(duration=2), at=0)
    s.add(mw(), at=2)


def overlap(s: Schedule) -> None:
    s.add(mw(duration=100), at=0)
    s.add(mw(), at=50)


def acquisitions_too_close(s: Schedule) -> None:
    s.add(acq(duration=100), at=0)
    s.add(acq(duration=100, bin_index=1), at=200)


def beyond_full_scale(s: Schedule) -> None:
    s.add(DragPulse(port="q0:mw", clock="q0.01", amplitude=0.9, beta=40, duration=40))


def integration_not_multiple_of_4(s: Schedule) -> None:
    s.add(acq(duration=402))


def two_integration_lengths(s: Schedule) -> None:
    s.add(acq(duration=400), at=0)
    s.add(acq(duration=800, bin_index=1), at=1000)


def waveform_memory(s: Schedule) -> None:
    s.add(GaussPulse(port="q0:mw", clock="q0.01", amplitude=0.5, duration=9_000))


def clock_differs_from_interm_freq(s: Schedule) -> None:
    s.add_clock("q0.01", 90e6)
    s.add(mw())


def nco_out_of_range(s: Schedule) -> None:
    s.add_clock("q0.01", 600e6)
    s.add(mw())


def seven_clocks_on_one_module(s: Schedule) -> None:
    for k in range(7):
        s.add_clock(f"c{k}", 10e6 * (k + 1))
        s.add(SquarePulse(port="q0:mw", clock=f"c{k}", amplitude=0.1, duration=20), delay=20)


def one_acq_channel_two_port_clocks(s: Schedule) -> None:
    s.add(acq(), at=0)
    s.add(acq(port="q1:res", clock="q1.ro"), at=1000)


def staircase_steps_too_short(s: Schedule) -> None:
    s.add(
        StaircasePulse(
            port="q0:mw",
            clock="q0.01",
            start_amplitude=0,
            final_amplitude=0.5,
            num_steps=50,
            duration=100,
        )
    )


def offset_during_long_pulse(s: Schedule) -> None:
    s.add(mw(duration=5000), at=0)
    s.add(VoltageOffset(port="q0:mw", clock="q0.01", offset_i=0.1), at=1000)


def offset_plus_pulse_beyond_full_scale(s: Schedule) -> None:
    s.add(VoltageOffset(port="q0:mw", clock="q0.01", offset_i=0.6), at=0)
    s.add(mw(amplitude=0.6), at=100)


def set_frequency_beyond_nco(s: Schedule) -> None:
    s.add(SetClockFrequency(port="q0:mw", clock="q0.01", frequency=700e6), at=0)


def marker_on_analog_port(s: Schedule) -> None:
    s.add(MarkerPulse(port="q0:mw", duration=100))


def pulse_on_digital_port(s: Schedule) -> None:
    s.add(SquarePulse(port="q0:trig", clock="q0.01", amplitude=0.1, duration=20))


# (build, expected code, expected path, compile against the bare hardware config)
CASES: list[tuple[Callable[[Schedule], None], ErrorCode, str, bool]] = [
    (undefined_clock, ErrorCode.CLOCK_UNDEFINED, "operations[0].op.clock", False),
    (port_not_connected, ErrorCode.PORT_NOT_CONNECTED, "operations[0].op.port", False),
    (acquire_on_drive_port, ErrorCode.PORT_CLOCK_NO_INPUT, "operations[0].op.port", False),
    (too_close, ErrorCode.OPERATIONS_TOO_CLOSE, "operations[1]", False),
    (overlap, ErrorCode.OPERATIONS_OVERLAP, "operations[1]", False),
    (acquisitions_too_close, ErrorCode.ACQUISITIONS_TOO_CLOSE, "operations[1]", False),
    (beyond_full_scale, ErrorCode.AMPLITUDE_OUT_OF_RANGE, "operations[0].op.amplitude", False),
    (
        integration_not_multiple_of_4,
        ErrorCode.INTEGRATION_LENGTH_INVALID,
        "operations[0].op.duration",
        False,
    ),
    (
        two_integration_lengths,
        ErrorCode.INTEGRATION_LENGTH_INVALID,
        "operations[1].op.duration",
        False,
    ),
    (waveform_memory, ErrorCode.WAVEFORM_MEMORY_EXCEEDED, "operations[0]", False),
    (
        clock_differs_from_interm_freq,
        ErrorCode.CONFIG_FREQUENCY_INCONSISTENT,
        "hardware_options.modulation_frequencies.q0:mw-q0.01",
        False,
    ),
    (nco_out_of_range, ErrorCode.NCO_OUT_OF_RANGE, "operations[0].op.clock", True),
    (seven_clocks_on_one_module, ErrorCode.TOO_MANY_SEQUENCERS, "operations[6]", True),
    (
        one_acq_channel_two_port_clocks,
        ErrorCode.SCHEDULE_INVALID,
        "operations[1].op.acq_channel",
        False,
    ),
    (
        staircase_steps_too_short,
        ErrorCode.OPERATIONS_TOO_CLOSE,
        "operations[0].op.num_steps",
        False,
    ),
    (offset_during_long_pulse, ErrorCode.OPERATIONS_OVERLAP, "operations[1]", False),
    (
        offset_plus_pulse_beyond_full_scale,
        ErrorCode.AMPLITUDE_OUT_OF_RANGE,
        "operations[1].op.amplitude",
        False,
    ),
    (set_frequency_beyond_nco, ErrorCode.NCO_OUT_OF_RANGE, "operations[0].op.frequency", False),
    (marker_on_analog_port, ErrorCode.PORT_CLOCK_NO_OUTPUT, "operations[0].op.port", False),
    (pulse_on_digital_port, ErrorCode.PORT_CLOCK_NO_OUTPUT, "operations[0].op.port", False),
]


@pytest.mark.parametrize(
    ("build", "code", "path", "bare"), CASES, ids=[c[0].__name__ for c in CASES]
)
def test_invalid_schedules(
    hardware: HardwareConfig,
    build: Callable[[Schedule], None],
    code: ErrorCode,
    path: str,
    bare: bool,
) -> None:
    s = sched()
    build(s)
    with pytest.raises(QconductorError) as info:
        compile_schedule(s, bare_hardware() if bare else hardware)
    found = [(d.code, d.path) for d in info.value.details]
    assert (code, path) in found, found


def test_all_errors_of_a_pass_are_reported_together(hardware: HardwareConfig) -> None:
    s = sched()
    s.add(mw(amplitude=0.5, duration=100), at=0)
    s.add(mw(), at=50)  # overlap
    s.add(acq(duration=402), at=1000)  # bad integration length
    s.add(DragPulse(port="q0:mw", clock="q0.01", amplitude=0.9, beta=40, duration=40), at=2000)
    with pytest.raises(QconductorError) as info:
        compile_schedule(s, hardware)
    codes = {d.code for d in info.value.details}
    assert codes == {
        ErrorCode.OPERATIONS_OVERLAP,
        ErrorCode.INTEGRATION_LENGTH_INVALID,
        ErrorCode.AMPLITUDE_OUT_OF_RANGE,
    }
    assert info.value.code == ErrorCode.SCHEDULE_INVALID
    assert "and 2 more" in info.value.message
