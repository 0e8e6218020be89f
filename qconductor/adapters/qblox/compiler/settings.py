"""Sequencer settings from the channels a sequencer drives and reads.

Module types differ by data, not code: :data:`MODULE_IO` says how many physical outputs a type
has and whether it reads inputs. A complex output ``n`` of a baseband module is the pair of
physical outputs ``2n`` (I) and ``2n + 1`` (Q); a complex input is ``in0`` (I) and ``in1`` (Q).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from qconductor.protocol.compiled import InputRoute, ModuleType, OutputRoute, SequencerSettings


@dataclass(frozen=True)
class ModuleIO:
    outputs: int  # physical outputs (connect_out0..)
    has_inputs: bool
    sequencers: int
    max_instructions: int
    rf: bool


MODULE_IO: dict[str, ModuleIO] = {
    "QCM": ModuleIO(outputs=4, has_inputs=False, sequencers=6, max_instructions=16384, rf=False),
    "QRM": ModuleIO(outputs=2, has_inputs=True, sequencers=6, max_instructions=12288, rf=False),
    "QCM_RF": ModuleIO(outputs=2, has_inputs=False, sequencers=6, max_instructions=16384, rf=True),
    "QRM_RF": ModuleIO(outputs=1, has_inputs=True, sequencers=6, max_instructions=12288, rf=True),
}

WAVEFORM_MEMORY = 16384
NCO_LIMIT_HZ = 500e6


def output_routes(module_type: ModuleType, channels: list[str]) -> dict[int, OutputRoute]:
    """Physical output -> route for the given complex output channels; others "off"."""
    io = MODULE_IO[module_type]
    routes: dict[int, OutputRoute] = dict.fromkeys(range(io.outputs), "off")
    for channel in channels:
        if channel.startswith("complex_output_"):
            n = int(channel.rsplit("_", 1)[1])
            routes[2 * n] = "I"
            routes[2 * n + 1] = "Q"
    return routes


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
) -> SequencerSettings:
    """Settings of a used sequencer; ``extra`` holds what its operations require (thresholds,
    TTL input, ...), by driver parameter name."""
    io = MODULE_IO[module_type]
    routes = output_routes(module_type, outputs)
    acq: InputRoute = "off"
    fields: dict[str, object] = {f"connect_out{k}": route for k, route in routes.items()}
    if io.has_inputs:
        acq = "in0" if any(c == "complex_input_0" for c in inputs) else "off"
        fields["connect_acq_I"] = acq
        fields["demod_en_acq"] = demodulate
        fields["connect_acq_Q"] = "in1" if acq == "in0" else "off"
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


def off_settings(module_type: ModuleType) -> SequencerSettings:
    """An unused sequencer: not synchronised, connected to nothing, so nothing leaks."""
    io = MODULE_IO[module_type]
    fields: dict[str, object] = {f"connect_out{k}": "off" for k in range(io.outputs)}
    if io.has_inputs:
        fields["connect_acq_I"] = "off"
        fields["connect_acq_Q"] = "off"
        fields["demod_en_acq"] = False
    return SequencerSettings.model_validate({"sync_en": False, **fields})
