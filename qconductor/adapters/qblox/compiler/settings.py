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

Sequencer options (``hardware_options.sequencer_options.<port-clock>``) set the sequencer's static
AWG path parameters, as the reference (quantify-scheduler 0.28: ``AnalogSequencerSettings`` and
the instrument coordinator) does, whatever channel the port-clock is on: ``init_offset_awg_path_I``
/ ``_Q`` -> ``offset_awg_path0`` / ``1``, ``init_gain_awg_path_I`` / ``_Q`` -> ``gain_awg_path0`` /
``1``; without options 0.0 and 1.0, so nothing leaks from a previous job. Their ranges (-1 to 1,
the driver's validators) are checked when the config is loaded (``CONFIG_BAD_VALUE`` at
``hardware_options.sequencer_options.<port-clock>.<field>``). On the instrument the static gain
multiplies the ``set_awg_gain`` of the program and the static offset adds to its
``set_awg_offs`` (qblox-instruments' parameter docs), both before the NCO. The lowering's
full-scale check does not see the static offset (out of scope: a pulse of amplitude ``a`` on a
path with offset ``o`` reaches ``|a| + |o|``, which may exceed full scale unnoticed; the static
gain, at most 1 in magnitude, cannot).

``real_mode_en`` (baseband modules, firmware >= 2.0) is always False, on used and unused
sequencers alike: real outputs are compiled for path 0 with the NCO as described above and
need no real mode (the reference does not set it either); setting it False each job undoes a
True left by another client. RF modules have no such parameter (None: not set).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from qconductor.protocol.compiled import InputRoute, ModuleType, OutputRoute, SequencerSettings
from qconductor.protocol.hardware import PortClockOptions, parse_channel_name


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


def awg_path_settings(options: PortClockOptions | None) -> dict[str, float]:
    """The static AWG path offsets and gains from the port-clock's ``sequencer_options``
    (path I -> 0, Q -> 1); the neutral 0.0 / 1.0 without options."""
    seq = options.sequencer_options if options is not None else None
    if seq is None:
        return {}  # the SequencerSettings defaults: offsets 0.0, gains 1.0
    return {
        "offset_awg_path0": seq.init_offset_awg_path_I,
        "offset_awg_path1": seq.init_offset_awg_path_Q,
        "gain_awg_path0": seq.init_gain_awg_path_I,
        "gain_awg_path1": seq.init_gain_awg_path_Q,
    }


def _real_mode(io: ModuleIO) -> bool | None:
    return None if io.rf else False


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
    options: PortClockOptions | None = None,
) -> SequencerSettings:
    """Settings of a used sequencer; ``extra`` holds what its operations require (thresholds,
    TTL input, ...), by driver parameter name. ``mixer`` applies when a complex output is
    connected; ``options`` (the port-clock's hardware options) gives the static AWG path
    offsets and gains.

    The settings are immutable and depend on these values only: one instance serves every
    sequencer (of every job) with equal values, from a cache of :data:`SETTINGS_CACHE_SIZE`."""
    awg = awg_path_settings(options)
    key = (
        module_type,
        tuple(outputs),
        tuple(inputs),
        nco_freq,
        modulate,
        demodulate,
        integration_length,
        tuple(extra.items()) if extra else (),
        mixer,
        tuple(awg.values()),
    )
    found = _SETTINGS.get(key)
    if found is None:
        if len(_SETTINGS) >= SETTINGS_CACHE_SIZE:
            _SETTINGS.clear()
        found = _SETTINGS[key] = _sequencer_settings(
            module_type,
            outputs,
            inputs,
            nco_freq,
            modulate,
            demodulate,
            integration_length,
            extra,
            mixer,
            awg,
        )
    return found


SETTINGS_CACHE_SIZE = 1024
_SETTINGS: dict[tuple[object, ...], SequencerSettings] = {}


def _sequencer_settings(
    module_type: ModuleType,
    outputs: list[str],
    inputs: list[str],
    nco_freq: float,
    modulate: bool,
    demodulate: bool,
    integration_length: int | None,
    extra: Mapping[str, object] | None,
    mixer: MixerCorrection | None,
    awg: dict[str, float],
) -> SequencerSettings:
    io = MODULE_IO[module_type]
    fields: dict[str, object] = {"real_mode_en": _real_mode(io), **awg}
    fields.update(
        (f"connect_out{k}", route) for k, route in output_routes(module_type, outputs).items()
    )
    if mixer is not None and any(c.startswith("complex_output_") for c in outputs):
        fields["mixer_corr_gain_ratio"] = mixer.gain_ratio
        fields["mixer_corr_phase_offset_degree"] = mixer.phase_offset_degree
    if io.has_inputs:
        fields.update(input_routes(module_type, inputs))
        fields["demod_en_acq"] = demodulate
        fields["thresholded_acq_trigger_en"] = False  # unless a feedback acquisition sets it
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
    fields: dict[str, object] = {"real_mode_en": _real_mode(io)}
    fields.update((f"connect_out{k}", "off") for k in range(io.outputs))
    if io.has_inputs:
        fields.update(input_routes(module_type, []))
        fields["demod_en_acq"] = False
        fields["thresholded_acq_trigger_en"] = False
    return SequencerSettings.model_validate({"sync_en": False, **fields})
