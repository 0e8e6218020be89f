"""The compiled job: what the compiler produces and an instrument adapter executes.

Per sequencer it holds the driver's own ``sequence`` dict (``waveforms``, ``weights``,
``acquisitions``, ``program``) and the sequencer's settings under the driver's parameter names;
per module the module-level parameters. Every sequencer and module the job touches is listed, and
so is every *other* sequencer of those modules, switched off explicitly (no sequence, settings
that connect nothing and do not synchronise) so that nothing leaks from a previous job. The
whole job is JSON- and msgpack-serialisable.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from qconductor.protocol.errors import Diagnostic
from qconductor.protocol.hardware.channels import ModuleType
from qconductor.protocol.lo import LoSetting
from qconductor.protocol.sweeps import FixedPointSweep, Linspace

__all__ = [
    "COMPILED_FORMAT_VERSION",
    "AcquisitionEntry",
    "AcquisitionKind",
    "AcquisitionSpec",
    "ClusterProgram",
    "CompiledJob",
    "InputRoute",
    "ModuleProgram",
    "ModuleType",
    "OutputRoute",
    "ParameterValue",
    "ProgramStats",
    "SequenceDict",
    "SequencerProgram",
    "SequencerSettings",
    "WaveformEntry",
]

COMPILED_FORMAT_VERSION = 1

OutputRoute = Literal["I", "Q", "IQ", "off"]
InputRoute = Literal["in0", "in1", "off"]
ParameterValue = float | int | bool | str


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WaveformEntry(_Closed):
    data: list[float]
    index: Annotated[int, Field(ge=0)]


class AcquisitionEntry(_Closed):
    num_bins: Annotated[int, Field(ge=1)]
    index: Annotated[int, Field(ge=0, le=31)]


class SequenceDict(_Closed):
    """Exactly what ``sequencer.sequence(...)`` takes, as a model."""

    waveforms: dict[str, WaveformEntry] = Field(default_factory=dict)
    weights: dict[str, WaveformEntry] = Field(default_factory=dict)
    acquisitions: dict[str, AcquisitionEntry] = Field(default_factory=dict)
    program: str

    def to_driver(self) -> dict[str, Any]:
        return self.model_dump(mode="python")


class SequencerSettings(_Closed):
    """Sequencer parameters under their qblox-instruments names. ``None``: not applicable to
    this module type (e.g. ``connect_out2`` on a QRM), so the adapter leaves it alone."""

    sync_en: bool
    nco_freq: float = 0.0
    nco_phase_offs: float = 0.0
    mod_en_awg: bool = False
    # Real mode (baseband QCM/QRM, firmware >= 2.0; None on RF modules, which lack it). Always
    # False: qconductor plays real outputs from path 0 without it. It precedes the mixer
    # corrections and the channel map because the driver, while it is True, refuses a "Q"
    # route and non-neutral mixer corrections, so a True left by another client must be
    # cleared first. False is also what the adapter skips where the driver lacks the parameter.
    real_mode_en: bool | None = False
    demod_en_acq: bool | None = None  # readout modules only
    mixer_corr_gain_ratio: float = 1.0
    mixer_corr_phase_offset_degree: float = 0.0
    # static AWG path offsets and gains (fractions of full scale; the driver's ranges)
    offset_awg_path0: Annotated[float, Field(ge=-1, le=1)] = 0.0
    offset_awg_path1: Annotated[float, Field(ge=-1, le=1)] = 0.0
    gain_awg_path0: Annotated[float, Field(ge=-1, le=1)] = 1.0
    gain_awg_path1: Annotated[float, Field(ge=-1, le=1)] = 1.0
    marker_ovr_en: bool = False
    marker_ovr_value: int = 0
    connect_out0: OutputRoute | None = None
    connect_out1: OutputRoute | None = None
    connect_out2: OutputRoute | None = None
    connect_out3: OutputRoute | None = None
    connect_acq_I: InputRoute | None = None
    connect_acq_Q: InputRoute | None = None
    connect_acq: InputRoute | None = None  # QRM-RF: its one (complex) input
    integration_length_acq: Annotated[int, Field(ge=4, le=16777212)] | None = None
    # thresholded acquisition: rotation (degrees) and threshold (integrated units: the
    # averaged threshold times the integration length), as the driver takes them
    thresholded_acq_rotation: Annotated[float, Field(ge=0, le=360)] | None = None
    thresholded_acq_threshold: float | None = None
    # thresholded result onto the trigger network (conditional playback): address 1..15
    thresholded_acq_trigger_en: bool | None = None
    thresholded_acq_trigger_address: Annotated[int, Field(ge=1, le=15)] | None = None
    thresholded_acq_trigger_invert: bool | None = None
    # trigger count (QRM): input compared (0 = in0, 1 = in1), level (-1..1 of full scale)
    ttl_acq_input_select: Annotated[int, Field(ge=0, le=1)] | None = None
    ttl_acq_threshold: Annotated[float, Field(ge=-1, le=1)] | None = None
    ttl_acq_auto_bin_incr_en: bool | None = None

    def parameters(self) -> dict[str, ParameterValue]:
        """The parameters to set, in a stable order (channel map last), ``None`` left out."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class ProgramStats(_Closed):
    instructions: int
    waveform_samples: int
    bins: int


class SequencerProgram(_Closed):
    index: Annotated[int, Field(ge=0)]
    port: str | None = None
    clock: str | None = None
    channels: list[str] = Field(default_factory=list)
    sequence: SequenceDict | None = None  # None: the sequencer is unused and only switched off
    settings: SequencerSettings
    stats: ProgramStats | None = None

    @property
    def used(self) -> bool:
        return self.sequence is not None


class ModuleProgram(_Closed):
    slot: Annotated[int, Field(ge=1, le=20)]
    module_type: ModuleType
    parameters: dict[str, ParameterValue] = Field(default_factory=dict)
    sequencers: list[SequencerProgram]


class ClusterProgram(_Closed):
    name: str
    modules: list[ModuleProgram]


AcquisitionKind = Literal[
    "ssb_integration", "weighted_integration", "thresholded", "trace", "trigger_count"
]


class SweepAxis(_Closed):
    """One loop around an acquisition: its number of points and the values of its sweep
    variables at each point, as played (``played``: the register steps of the variable's first
    use, see :mod:`qconductor.protocol.sweeps`) or, for a variable nothing uses, as requested."""

    count: int
    played: dict[str, FixedPointSweep] = Field(default_factory=dict)
    requested: dict[str, Linspace] = Field(default_factory=dict)

    def values(self) -> dict[str, npt.NDArray[np.float64]]:
        out = {name: domain.values() for name, domain in self.requested.items()}
        out.update({name: sweep.values() for name, sweep in self.played.items()})
        return out


class AcquisitionSpec(_Closed):
    """Where one acquisition channel's data lives on the hardware, and how to read it back.

    ``num_bins`` is the number of bins of one repetition; in ``append`` mode the hardware holds
    ``num_bins * repetitions`` of them, repetition-major. ``coords`` labels bins (by index).
    ``integration_length`` is in ns; for a trace it is the trace's number of samples."""

    acq_channel: int
    kind: AcquisitionKind
    bin_mode: Literal["average", "append"]
    num_bins: int
    repetitions: int = 1
    summed: bool = False  # weighted integration with the two paths added
    cluster: str
    slot: int
    sequencer: int
    acq_name: str
    acq_index: int
    integration_length: int
    port: str
    clock: str
    coords: dict[int, dict[str, float | int | str]] = Field(default_factory=dict)
    sweeps: list[SweepAxis] = Field(
        default_factory=list, description="the loops the bins follow, outermost first"
    )

    def sweep_coords(self) -> dict[str, npt.NDArray[np.float64]]:
        """Every sweep variable's value at every bin of one repetition (outer loops vary
        slowest), empty for an acquisition outside loops."""
        if not self.sweeps:
            return {}
        counts = [axis.count for axis in self.sweeps]
        out: dict[str, npt.NDArray[np.float64]] = {}
        for k, axis in enumerate(self.sweeps):
            outer = int(np.prod(counts[:k]))
            inner = int(np.prod(counts[k + 1 :]))
            for name, values in axis.values().items():
                out[name] = np.tile(np.repeat(values, inner), outer)
        return out

    @property
    def hardware_bins(self) -> int:
        return self.num_bins * (self.repetitions if self.bin_mode == "append" else 1)


class CompiledJob(_Closed):
    format_version: int = COMPILED_FORMAT_VERSION
    schedule_name: str
    repetitions: int
    repetition_duration_ns: int  # one repetition as the hardware plays it (with the loop head)
    clusters: list[ClusterProgram]
    acquisitions: list[AcquisitionSpec]
    local_oscillators: list[LoSetting] = Field(default_factory=list)
    content_hash: str
    warnings: list[Diagnostic] = Field(default_factory=list)

    @property
    def duration_ns(self) -> int:
        return self.repetition_duration_ns * self.repetitions

    def used_sequencers(self) -> list[tuple[str, int, int]]:
        """(cluster, slot, sequencer) for every sequencer with a program."""
        return [
            (c.name, m.slot, s.index)
            for c in self.clusters
            for m in c.modules
            for s in m.sequencers
            if s.used
        ]
