"""The per-module-type channel table, as data.

Module types differ by data (channels, sequencers, marker bits, ranges), not by subclass. The
table follows the Qblox backend of quantify-scheduler 0.28 / qblox-scheduler 1.0 (the module
descriptions' channel fields and the compilers' static hardware properties) and the limits of
qblox-instruments 1.4 (attenuation validators, input gain range).

A channel name is ``{mode}_{direction}_{index}``: ``complex_output_0``, ``real_input_1``,
``digital_output_3``. A complex channel ``n`` drives the physical paths ``2n`` and ``2n + 1``
of the sequencer (I and Q); real and digital channels drive path ``n``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

ModuleType = Literal["QCM", "QRM", "QCM_RF", "QRM_RF", "QRC", "QTM", "QSM"]
"""Cluster module types a config may describe. QRC, QTM and QSM are accepted and validated even
where the compiler does not target them yet (QSM has no sequencer channels at all)."""

MODULE_TYPES: tuple[ModuleType, ...] = get_args(ModuleType)

ChannelMode = Literal["complex", "real", "digital"]
Direction = Literal["output", "input"]

MIN_SLOT = 1
MAX_SLOT = 20

NCO_MAX_HZ = 500e6
"""The NCO runs from -500 MHz to +500 MHz."""

MIXER_AMP_RATIO_RANGE = (0.5, 2.0)
MIXER_PHASE_ERROR_RANGE_DEG = (-45.0, 45.0)

_CHANNEL_RE = re.compile(r"^(complex|real|digital)_(output|input)_(\d+)$")


@dataclass(frozen=True)
class Attenuation:
    """An attenuation setting's range: ``0 … maximum`` dB in steps of ``step`` dB."""

    maximum: float
    step: float

    def allows(self, value: float) -> bool:
        if value < 0 or value > self.maximum:
            return False
        steps = value / self.step
        return abs(steps - round(steps)) < 1e-9

    def describe(self) -> str:
        return f"0 to {self.maximum:g} dB in steps of {self.step:g} dB"


@dataclass(frozen=True)
class ModuleSpec:
    """Everything the config layer knows about one module type."""

    module_type: ModuleType
    channels: tuple[str, ...]
    """Every channel name the module has, in the order of the reference description."""
    sequencers: int
    """How many sequencers the module has."""
    marker_bits: Mapping[str, int] = field(default_factory=dict)
    """The marker bit (mask) that goes high for an operation on a channel."""
    is_rf: bool = False
    """RF modules have internal LOs (always mixed) and attenuators."""
    dc_offset_max_v: float | None = None
    """Largest mixer DC offset (volts, either sign) the module accepts; None when it has no
    complex outputs."""
    output_attenuation: Attenuation | None = None
    input_attenuation: Attenuation | None = None
    input_gain_db: tuple[int, int] | None = None
    """Range of the input gain in dB (``in{n}_gain``), for baseband readout modules."""

    def has_channel(self, channel: str) -> bool:
        return channel in self.channels


def _names(mode: ChannelMode, direction: Direction, count: int) -> tuple[str, ...]:
    return tuple(f"{mode}_{direction}_{i}" for i in range(count))


_QCM_RF_MARKERS = {
    "complex_output_0": 0b0001,
    "complex_output_1": 0b0010,
    "digital_output_0": 0b1000,
    "digital_output_1": 0b0100,
}
_QRM_RF_MARKERS = {
    "complex_output_0": 0b0010,
    "digital_output_0": 0b0100,
    "digital_output_1": 0b1000,
}
_RF_OUT_ATT = Attenuation(maximum=60, step=2)
_QRC_ATT = Attenuation(maximum=31.5, step=0.5)

MODULE_SPECS: Mapping[ModuleType, ModuleSpec] = {
    "QCM": ModuleSpec(
        "QCM",
        _names("complex", "output", 2)
        + _names("real", "output", 4)
        + _names("digital", "output", 4),
        sequencers=6,
        marker_bits={f"digital_output_{n}": 1 << n for n in range(4)},
        dc_offset_max_v=2.5,
    ),
    "QRM": ModuleSpec(
        "QRM",
        (
            "complex_output_0",
            "complex_input_0",
            *_names("real", "output", 2),
            *_names("real", "input", 2),
            *_names("digital", "output", 4),
        ),
        sequencers=6,
        marker_bits={f"digital_output_{n}": 1 << n for n in range(4)},
        dc_offset_max_v=0.5,
        input_gain_db=(-6, 26),
    ),
    "QCM_RF": ModuleSpec(
        "QCM_RF",
        _names("complex", "output", 2) + _names("digital", "output", 2),
        sequencers=6,
        marker_bits=_QCM_RF_MARKERS,
        is_rf=True,
        dc_offset_max_v=0.05,
        output_attenuation=_RF_OUT_ATT,
    ),
    "QRM_RF": ModuleSpec(
        "QRM_RF",
        ("complex_output_0", "complex_input_0", *_names("digital", "output", 2)),
        sequencers=6,
        marker_bits=_QRM_RF_MARKERS,
        is_rf=True,
        dc_offset_max_v=0.05,
        output_attenuation=_RF_OUT_ATT,
        input_attenuation=Attenuation(maximum=30, step=2),
    ),
    "QRC": ModuleSpec(
        "QRC",
        (*_names("complex", "output", 6), *_names("complex", "input", 2), "digital_output_0"),
        sequencers=12,
        marker_bits={"digital_output_0": 0b0001},
        is_rf=True,
        dc_offset_max_v=0.05,
        output_attenuation=_QRC_ATT,
        input_attenuation=_QRC_ATT,
    ),
    "QTM": ModuleSpec(
        "QTM",
        _names("digital", "input", 8) + _names("digital", "output", 8),
        sequencers=8,
    ),
    "QSM": ModuleSpec("QSM", (), sequencers=0),
}


@dataclass(frozen=True)
class ChannelName:
    """A parsed channel name."""

    mode: ChannelMode
    direction: Direction
    index: int


def parse_channel_name(name: str) -> ChannelName | None:
    """``"complex_output_1"`` -> ``ChannelName("complex", "output", 1)``; None if malformed."""
    m = _CHANNEL_RE.match(name)
    if m is None:
        return None
    mode: ChannelMode = "complex" if m[1] == "complex" else "real" if m[1] == "real" else "digital"
    direction: Direction = "output" if m[2] == "output" else "input"
    return ChannelName(mode, direction, int(m[3]))


@dataclass(frozen=True, order=True)
class ChannelRef:
    """One channel of one module: ``cluster0.module3.complex_output_0``."""

    cluster: str
    slot: int
    module_type: ModuleType
    channel: str

    @property
    def _parsed(self) -> ChannelName:
        parsed = parse_channel_name(self.channel)
        if parsed is None:  # pragma: no cover - ChannelRefs are built from validated names
            raise ValueError(f"malformed channel name {self.channel!r}")
        return parsed

    @property
    def direction(self) -> Direction:
        return self._parsed.direction

    @property
    def mode(self) -> ChannelMode:
        return self._parsed.mode

    @property
    def index(self) -> int:
        return self._parsed.index

    @property
    def is_output(self) -> bool:
        return self.direction == "output"

    @property
    def is_input(self) -> bool:
        return self.direction == "input"

    @property
    def is_complex(self) -> bool:
        return self.mode == "complex"

    @property
    def is_real(self) -> bool:
        return self.mode == "real"

    @property
    def is_digital(self) -> bool:
        return self.mode == "digital"

    @property
    def is_rf(self) -> bool:
        """True on modules with internal LOs (QCM_RF, QRM_RF, QRC)."""
        return MODULE_SPECS[self.module_type].is_rf

    @property
    def io_indices(self) -> tuple[int, ...]:
        """The sequencer paths this channel uses: complex ``n`` -> ``(2n, 2n+1)``, else ``(n,)``."""
        n = self.index
        return (2 * n, 2 * n + 1) if self.is_complex else (n,)

    @property
    def marker_bit(self) -> int | None:
        """The marker mask that goes high with an operation on this channel, if any."""
        return MODULE_SPECS[self.module_type].marker_bits.get(self.channel)

    @property
    def node(self) -> str:
        """The connectivity node naming this channel."""
        return f"{self.cluster}.module{self.slot}.{self.channel}"

    def __str__(self) -> str:
        return self.node
