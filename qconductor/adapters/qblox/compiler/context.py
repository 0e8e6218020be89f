"""What the lowering of one sequencer's operations shares: tables, state and the settings the
operations imply. One :class:`SeqContext` per sequencer, filled in time order."""

from __future__ import annotations

from dataclasses import dataclass, field

from qconductor.adapters.qblox.compiler.assign import Allocation
from qconductor.adapters.qblox.compiler.diagnostics import Diagnostics
from qconductor.adapters.qblox.compiler.ir import Register
from qconductor.adapters.qblox.compiler.waveforms import WaveformTable
from qconductor.protocol.compiled import AcquisitionKind
from qconductor.protocol.hardware import PortClockOptions
from qconductor.protocol.operations import BinMode, Coordinate

MAX_REGISTERS = 64


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
    _next_register: int = 1  # R0 counts repetitions

    @property
    def name(self) -> str:
        return self.alloc.name

    def register(self) -> Register:
        if self._next_register >= MAX_REGISTERS:
            raise RuntimeError("out of registers")  # 63 append channels: cannot happen (32 max)
        reg = Register(self._next_register)
        self._next_register += 1
        return reg

    def require_setting(self, name: str, value: float | int | bool | str, op_index: int) -> bool:
        """Record a sequencer-wide setting; False (and the caller reports) when an earlier
        operation needs another value."""
        current = self.settings.get(name)
        if current is None:
            self.settings[name] = value
            self.setting_sources[name] = op_index
            return True
        return current == value
