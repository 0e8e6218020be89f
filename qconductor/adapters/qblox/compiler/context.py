"""What the lowering of one sequencer's operations shares: tables, state and the settings the
operations imply. One :class:`SeqContext` per sequencer, filled in time order."""

from __future__ import annotations

from dataclasses import dataclass, field

from qconductor.adapters.qblox.compiler.assign import Allocation
from qconductor.adapters.qblox.compiler.diagnostics import Diagnostics, op_path
from qconductor.adapters.qblox.compiler.ir import Register
from qconductor.adapters.qblox.compiler.loops import Segment
from qconductor.adapters.qblox.compiler.waveforms import WaveformTable
from qconductor.protocol.compiled import AcquisitionKind
from qconductor.protocol.errors import ErrorCode
from qconductor.protocol.hardware import PortClockOptions
from qconductor.protocol.operations import BinMode, Coordinate
from qconductor.protocol.sweeps import FRACTION_ONE, FixedPointSweep

MAX_REGISTERS = 63  # R63 is the long-wait loop's (see .emit)
MAX_TRIGGER_ADDRESS = 15


class OutOfRegisters(Exception):
    """More registers than a sequencer has (the caller reports it with the operation)."""


@dataclass
class LoopFrame:
    """A real-time loop being lowered on one sequencer: its counter and the instructions that
    set up and advance its sweep registers."""

    segment: Segment
    counter: Register
    setup: list[str] = field(default_factory=list)
    step: list[tuple[str, str | None]] = field(default_factory=list)
    registers: dict[tuple[str, float, float, int | None], Register] = field(default_factory=dict)


@dataclass
class AcqChannel:
    """One acquisition channel on this sequencer: its index in the ``acquisitions`` dict and
    everything needed to read it back."""

    acq_index: int
    kind: AcquisitionKind
    bin_mode: BinMode
    first_op: int
    num_bins: int = 0  # bins per repetition (max bin_index + 1)
    register: Register | None = None  # append mode: the running bin
    per_repetition: int = 0  # append mode: acquisitions per repetition
    coords: dict[int, dict[str, Coordinate]] = field(default_factory=dict)
    summed: bool = False  # weighted integration: paths added
    loops: list[Segment] | None = None  # acquired in these loops (outermost first): bin = point


@dataclass
class SeqContext:
    alloc: Allocation
    diag: Diagnostics
    repetitions: int
    options: PortClockOptions | None = None  # the hardware options of this port-clock
    waveforms: WaveformTable = field(default_factory=WaveformTable)
    weights: WaveformTable = field(default_factory=WaveformTable)
    acq_channels: dict[int, AcqChannel] = field(default_factory=dict)
    integration_length: int | None = None
    # sequencer settings implied by the operations (driver parameter name -> value)
    settings: dict[str, float | int | bool | str] = field(default_factory=dict)
    # module parameters this sequencer's operations need (scope acquisition), by driver name
    module_settings: dict[str, float | int | bool | str] = field(default_factory=dict)
    setting_sources: dict[str, int] = field(default_factory=dict)  # name -> op index
    setup: list[str] = field(default_factory=list)  # run once before the repetition loop
    weight_registers: dict[int, Register] = field(default_factory=dict)  # weight -> register
    offset: tuple[float, float] = (0.0, 0.0)  # current DC offset (fractions of full scale)
    offset_busy_until: int = 0  # a long pulse plays from the offsets until then
    events_end: int = 0  # the earliest time the repetition may end (set by the timeline)
    marker_base: int = 0  # bits held high for the whole program (RF output switches)
    uses_offsets: bool = False
    uses_markers: bool = False
    uses_freq: bool = False
    uses_scope: bool = False
    has_pulses: bool = False
    has_acquisitions: bool = False
    loop_stack: list[LoopFrame] = field(default_factory=list)  # the loops being lowered
    # the first register sweep of each (loop segment, variable), shared by the whole job: the
    # values reported with the results
    played: dict[tuple[int, str], FixedPointSweep] = field(default_factory=dict)
    # trigger addresses of the job's feedback labels, by (cluster, label); shared like played
    triggers: dict[tuple[str, str], int] = field(default_factory=dict)
    _next_register: int = 1  # R0 counts repetitions
    _labels: int = 0
    _zero: Register | None = None

    @property
    def name(self) -> str:
        return self.alloc.name

    def register(self) -> Register:
        if self._next_register >= MAX_REGISTERS:
            raise OutOfRegisters(self.name)
        reg = Register(self._next_register)
        self._next_register += 1
        return reg

    def trigger_address(self, label: str, index: int = -1) -> int:
        """The trigger network address (1..15) of feedback label ``label`` on this cluster."""
        key = (self.alloc.cluster, label)
        address = self.triggers.get(key)
        if address is None:
            used = sum(1 for cluster, _ in self.triggers if cluster == self.alloc.cluster)
            if used >= MAX_TRIGGER_ADDRESS:
                self.diag.error(
                    ErrorCode.ACQUISITION_LIMIT_EXCEEDED,
                    f"feedback label {label!r} would be the 16th on {self.alloc.cluster}; its "
                    f"trigger network has {MAX_TRIGGER_ADDRESS} addresses",
                    op_path(index, "feedback_trigger_label"),
                )
                return 1
            address = self.triggers[key] = used + 1
        return address

    def zero_register(self) -> Register:
        """A register holding 0 (for an all-register operand list that needs a zero)."""
        if self._zero is None:
            self._zero = self.register()
            self.setup.append(f"move 0, {self._zero}")
        return self._zero

    def label(self, prefix: str) -> str:
        self._labels += 1
        return f"{prefix}{self._labels}"

    def frame_of(self, var: str) -> LoopFrame | None:
        """The innermost loop being lowered that sweeps ``var``."""
        for frame in reversed(self.loop_stack):
            if var in frame.segment.sweeps:
                return frame
        return None

    def swept(
        self,
        var: str,
        scale: float,
        offset: float = 0.0,
        modulo: int | None = None,
        *,
        index: int = -1,
        attr: str = "",
    ) -> tuple[Register, FixedPointSweep] | None:
        """The register holding ``offset + scale * var`` (rounded, in hardware units) at the
        current point of ``var``'s loop; created on first use, with the instructions that
        initialise it when the loop starts and advance it after every iteration (see
        :mod:`qconductor.protocol.sweeps`). ``modulo``: the register wraps there (phases)."""
        frame = self.frame_of(var)
        if frame is None:  # .loops reports it inside loops; outside them, here
            self.diag.error(
                ErrorCode.SCHEDULE_INVALID,
                f"{attr} refers to sweep variable {var!r}, which no enclosing loop sweeps",
                op_path(index, attr),
                hint="sweep it in a loop around this operation",
            )
            return None
        sweep = FixedPointSweep.of(frame.segment.sweeps[var], scale, offset)
        key = (var, scale, offset, modulo)
        reg = frame.registers.get(key)
        if reg is not None:
            return reg, sweep
        self.played.setdefault((frame.segment.id, var), sweep)
        wrap = modulo if modulo is not None else 1 << 32
        reg = frame.registers[key] = self.register()
        frame.setup.append(f"move {sweep.q0 % wrap}, {reg}")
        # the same instructions whatever the step, so the program's size never depends on
        # the number of points (a whole step adds 0 fraction and never carries)
        frac = self.register()
        frame.setup.append(f"move {sweep.e0}, {frac}")
        skip = self.label("carry")
        frame.step += [
            (f"add {reg}, {sweep.d_int % wrap}, {reg}", None),
            (f"add {frac}, {sweep.d_frac}, {frac}", None),
            (f"jlt {frac}, {FRACTION_ONE}, @{skip}", None),
            (f"sub {frac}, {FRACTION_ONE}, {frac}", None),
            (f"add {reg}, 1, {reg}", None),
            ("nop", skip),
        ]
        if modulo is not None:
            skip = self.label("wrap")
            frame.step += [
                (f"jlt {reg}, {modulo}, @{skip}", None),
                (f"sub {reg}, {modulo}, {reg}", None),
                ("nop", skip),
            ]
        return reg, sweep

    def require_setting(self, name: str, value: float | int | bool | str, op_index: int) -> bool:
        """Record a sequencer-wide setting; False (and the caller reports) when an earlier
        operation needs another value."""
        current = self.settings.get(name)
        if current is None:
            self.settings[name] = value
            self.setting_sources[name] = op_index
            return True
        return current == value
