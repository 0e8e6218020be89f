"""Sequencer settings from the channels a sequencer drives and reads.

Module types differ by data, not code: :data:`MODULE_IO` says how many physical outputs
(``connect_out{k}`` parameters) and inputs a type has and whether it is an RF module. The channel
maps, as the reference (quantify-scheduler 0.28's instrument coordinator) sets them and the
qblox-instruments 1.4 validators accept them:

================  ====================  ===============================================
module            channel               sequencer parameters
================  ====================  ===============================================
QCM, QRM          ``complex_output_n``  ``connect_out{2n}`` "I", ``connect_out{2n+1}`` "Q"
QCM, QRM          ``real_output_n``     ``connect_out{n}`` "I" (path 0 only)
QRM               ``complex_input_0``   ``connect_acq_I`` "in0", ``connect_acq_Q`` "in1"
QRM               ``real_input_n``      acquisition path ``n`` from ``in{n}``: ``real_input_0``
                                        is ``connect_acq_I`` "in0", ``real_input_1`` is
                                        ``connect_acq_Q`` "in1"; the other path "off"
QCM-RF, QRM-RF    ``complex_output_n``  ``connect_out{n}`` "IQ"
QRM-RF            ``complex_input_0``   ``connect_acq`` "in0"
================  ====================  ===============================================

Everything not connected is "off", so nothing a previous job connected stays connected.

Real mode: a real output carries the sequencer's path 0 only, which with the NCO on is
``I cos(wt) - Q sin(wt)``. As in the reference, a pulse on a real output must therefore have no
Q part (lowering reports one that has); its Q path plays nothing (zero gain) and costs no
waveform memory.

Mixer corrections (``amp_ratio``, ``phase_error`` of the port-clock) become the sequencer's
``mixer_corr_gain_ratio`` (path 1 amplitude / path 0 amplitude) and
``mixer_corr_phase_offset_degree`` (phase of path 1 relative to path 0), on complex outputs;
elsewhere they stay neutral (1.0, 0.0), because a real output has no IQ mixer to correct and the
ratio would only scale its single path.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qconductor.protocol.compiled import InputRoute, ModuleType, OutputRoute, SequencerSettings
from qconductor.protocol.hardware import parse_channel_name


@dataclass(frozen=True)
class ModuleIO:
    outputs: int  # physical outputs (connect_out0..)
    inputs: int  # physical inputs (in0..)
    sequencers: int
    max_instructions: int
    rf: bool

    @property
    def has_inputs(self) -> bool:
        return self.inputs > 0


MODULE_IO: dict[str, ModuleIO] = {
    "QCM": ModuleIO(outputs=4, inputs=0, sequencers=6, max_instructions=16384, rf=False),
    "QRM": ModuleIO(outputs=2, inputs=2, sequencers=6, max_instructions=12288, rf=False),
    "QCM_RF": ModuleIO(outputs=2, inputs=0, sequencers=6, max_instructions=16384, rf=True),
    "QRM_RF": ModuleIO(outputs=1, inputs=1, sequencers=6, max_instructions=12288, rf=True),
}

WAVEFORM_MEMORY = 16384
NCO_LIMIT_HZ = 500e6

RF_SWITCH_MARKERS: Mapping[str, Mapping[str, int]] = {
    "QCM_RF": {
        "complex_output_0": 0b0001,
        "complex_output_1": 0b0010,
        "digital_output_0": 0b0011,
        "digital_output_1": 0b0011,
    },
    "QRM_RF": {
        "complex_output_0": 0b0010,
        "complex_input_0": 0b0010,
        "digital_output_0": 0b0010,
        "digital_output_1": 0b0010,
    },
}
"""The marker bits a sequencer holds high for its whole program on an RF module whose
``rf_output_on`` is true: the RF output switches (the reference's ``default_markers``). A
sequencer driving a marker output of a QCM-RF holds both switches, as the reference does."""


@dataclass(frozen=True)
class MixerCorrection:
    """The sequencer's real-time mixer corrections (neutral by default)."""

    gain_ratio: float = 1.0
    phase_offset_degree: float = 0.0


def _index(channel: str) -> int:
    parsed = parse_channel_name(channel)
    if parsed is None:  # pragma: no cover - channels come from a validated config
        raise ValueError(f"malformed channel name {channel!r}")
    return parsed.index


def output_routes(module_type: ModuleType, channels: Sequence[str]) -> dict[int, OutputRoute]:
    """Physical output -> route for the given output channels; every other output "off"."""
    io = MODULE_IO[module_type]
    routes: dict[int, OutputRoute] = dict.fromkeys(range(io.outputs), "off")
    for channel in channels:
        n = _index(channel)
        if channel.startswith("complex_output_"):
            if io.rf:
                routes[n] = "IQ"
            else:
                routes[2 * n], routes[2 * n + 1] = "I", "Q"
        elif channel.startswith("real_output_"):
            routes[n] = "I"
    return routes


def input_routes(module_type: ModuleType, channels: Sequence[str]) -> dict[str, InputRoute]:
    """The acquisition-path parameters for the given input channels (empty on a QCM)."""
    io = MODULE_IO[module_type]
    if not io.has_inputs:
        return {}
    if io.rf:
        wired = "complex_input_0" in channels
        return {"connect_acq": "in0" if wired else "off"}
    paths: dict[int, InputRoute] = {0: "off", 1: "off"}
    for channel in channels:
        if channel == "complex_input_0":
            paths = {0: "in0", 1: "in1"}
        elif channel.startswith("real_input_"):
            n = _index(channel)
            paths[n] = "in0" if n == 0 else "in1"
    return {"connect_acq_I": paths[0], "connect_acq_Q": paths[1]}


def sequencer_settings(
    module_type: ModuleType,
    *,
    outputs: list[str],
    inputs: list[str],
    nco_freq: float,
    modulate: bool,
    demodulate: bool,
    integration_length: int | None,
    extra: Mapping[str, object] | None = None,
    mixer: MixerCorrection | None = None,
) -> SequencerSettings:
    """Settings of a used sequencer; ``extra`` holds what its operations require (thresholds,
    TTL input, ...), by driver parameter name. ``mixer`` applies when a complex output is
    connected."""
    io = MODULE_IO[module_type]
    fields: dict[str, object] = {
        f"connect_out{k}": route for k, route in output_routes(module_type, outputs).items()
    }
    if mixer is not None and any(c.startswith("complex_output_") for c in outputs):
        fields["mixer_corr_gain_ratio"] = mixer.gain_ratio
        fields["mixer_corr_phase_offset_degree"] = mixer.phase_offset_degree
    if io.has_inputs:
        fields.update(input_routes(module_type, inputs))
        fields["demod_en_acq"] = demodulate
        if integration_length is not None:
            fields["integration_length_acq"] = integration_length
    return SequencerSettings.model_validate(
        {
            "sync_en": True,
            "nco_freq": nco_freq,
            "mod_en_awg": modulate,
            **fields,
            **(extra or {}),
        }
    )


@functools.cache
def off_settings(module_type: ModuleType) -> SequencerSettings:
    """An unused sequencer: not synchronised, connected to nothing, so nothing leaks.
    (Immutable, so one instance per module type serves every job.)"""
    io = MODULE_IO[module_type]
    fields: dict[str, object] = {f"connect_out{k}": "off" for k in range(io.outputs)}
    if io.has_inputs:
        fields.update(input_routes(module_type, []))
        fields["demod_en_acq"] = False
    return SequencerSettings.model_validate({"sync_en": False, **fields})
