"""Invalid configs: every problem reported, each with its code, path and a useful message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from qconductor.protocol.errors import ErrorCode
from qconductor.protocol.hardware import check_hardware_config, load_hardware_config

from .factories import errors, example, graph, modules, options, warnings

Mutation = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Case:
    name: str
    mutate: Mutation
    code: ErrorCode
    path: str
    phrase: str


def _set(path: str, value: Any) -> Mutation:
    """Set a nested key: ``_set("hardware_description.cluster0.ref", "x")``."""

    def mutate(config: dict[str, Any]) -> None:
        *parents, last = path.split("|")
        node = config
        for key in parents:
            node = node[key]
        node[last] = value

    return mutate


def _edge(a: Any, b: Any) -> Mutation:
    def mutate(config: dict[str, Any]) -> None:
        graph(config).append([a, b])

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(config: dict[str, Any]) -> None:
        *parents, last = path.split("|")
        node = config
        for key in parents:
            node = node[key]
        del node[last]

    return mutate


def _option(name: str, key: str, value: Any) -> Mutation:
    def mutate(config: dict[str, Any]) -> None:
        options(config, name)[key] = value

    return mutate


def _drop_edge(a: str, b: str) -> Mutation:
    def mutate(config: dict[str, Any]) -> None:
        config["connectivity"]["graph"] = [e for e in graph(config) if e != [a, b]]

    return mutate


N = 20  # number of edges in transmon_full.json: appended edges get index N
HD = "hardware_description"
MODS = "hardware_description|cluster0|modules"

CASES = [
    Case(
        "unknown module type",
        _set(f"{MODS}|2|instrument_type", "QRX"),
        ErrorCode.CONFIG_UNKNOWN_MODULE_TYPE,
        "hardware_description.cluster0.modules.2.instrument_type",
        "did you mean 'QRM'",
    ),
    Case(
        "module type missing",
        _set(f"{MODS}|8", {"instrument_typ": "QCM"}),
        ErrorCode.CONFIG_MISSING_KEY,
        "hardware_description.cluster0.modules.8.instrument_type",
        "found 'instrument_typ'",
    ),
    Case(
        "slot out of range in the description",
        _set(f"{MODS}|21", {"instrument_type": "QCM"}),
        ErrorCode.CONFIG_SLOT_OUT_OF_RANGE,
        "hardware_description.cluster0.modules.21",
        "slot 21 is out of range",
    ),
    Case(
        "slot that is not a number",
        _set(f"{MODS}|one", {"instrument_type": "QCM"}),
        ErrorCode.CONFIG_BAD_VALUE,
        "hardware_description.cluster0.modules.one",
        "valid integer",
    ),
    Case(
        "slot out of range in the graph",
        _edge("cluster0.module0.complex_output_0", "q9:mw"),
        ErrorCode.CONFIG_SLOT_OUT_OF_RANGE,
        f"connectivity.graph[{N}]",
        "slot 0 is out of range",
    ),
    Case(
        "channel the module does not have",
        _edge("cluster0.module3.real_output_0", "q9:mw"),
        ErrorCode.CONFIG_UNKNOWN_CHANNEL,
        f"connectivity.graph[{N}]",
        "a QCM_RF has no channel 'real_output_0'",
    ),
    Case(
        "channel of a QTM the QTM does not have",
        _edge("cluster0.module6.digital_output_8", "q9:trigger"),
        ErrorCode.CONFIG_UNKNOWN_CHANNEL,
        f"connectivity.graph[{N}]",
        "did you mean 'digital_output_",
    ),
    Case(
        "node naming an undescribed slot",
        _edge("cluster0.module9.complex_output_0", "q9:mw"),
        ErrorCode.CONFIG_UNKNOWN_INSTRUMENT,
        f"connectivity.graph[{N}]",
        "cluster0 has no module in slot 9",
    ),
    Case(
        "node naming an unknown instrument",
        _edge("cluster1.module1.complex_output_0", "q9:mw"),
        ErrorCode.CONFIG_UNKNOWN_INSTRUMENT,
        f"connectivity.graph[{N}]",
        "did you mean 'cluster0'",
    ),
    Case(
        "node that is neither",
        _edge("cluster0.module1.complex_output_1", "q9mw"),
        ErrorCode.CONFIG_BAD_NODE,
        f"connectivity.graph[{N}]",
        "'q9mw' is neither",
    ),
    Case(
        "mixer port with a dot in it",
        _edge("mixer_drive.rf.0", "q9:mw"),
        ErrorCode.CONFIG_BAD_NODE,
        f"connectivity.graph[{N}]",
        "is not of the form 'mixer_drive.<port>'",
    ),
    Case(
        "misspelled top-level key",
        lambda c: c.update(hardware_option=c.pop("hardware_options")),
        ErrorCode.CONFIG_UNKNOWN_KEY,
        "hardware_option",
        "did you mean 'hardware_options'",
    ),
    Case(
        "misspelled option key",
        _option("mixer_corrections", "q3:mw-q3.01", {"amp_ratoi": 1.0}),
        ErrorCode.CONFIG_UNKNOWN_KEY,
        "hardware_options.mixer_corrections.q3:mw-q3.01.amp_ratoi",
        "did you mean 'amp_ratio'",
    ),
    Case(
        "misspelled channel setting",
        _set(f"{MODS}|1|complex_output_0", {"mix_low": False}),
        ErrorCode.CONFIG_UNKNOWN_KEY,
        "hardware_description.cluster0.modules.1.complex_output_0.mix_low",
        "did you mean 'mix_lo'",
    ),
    Case(
        "missing required key",
        _delete(f"{HD}|cluster0|ref"),
        ErrorCode.CONFIG_MISSING_KEY,
        "hardware_description.cluster0.ref",
        "missing required key 'ref'",
    ),
    Case(
        "reference source misspelled",
        _set(f"{HD}|cluster0|ref", "intenral"),
        ErrorCode.CONFIG_BAD_VALUE,
        "hardware_description.cluster0.ref",
        "did you mean 'internal'",
    ),
    Case(
        "unknown instrument type",
        _set(f"{HD}|lo_drive|instrument_type", "LocalOsc"),
        ErrorCode.CONFIG_UNKNOWN_INSTRUMENT_TYPE,
        "hardware_description.lo_drive.instrument_type",
        "did you mean 'LocalOscillator'",
    ),
    Case(
        "unsupported version",
        _set("version", "0.3"),
        ErrorCode.CONFIG_UNSUPPORTED_VERSION,
        "version",
        "unsupported config version '0.3'",
    ),
    Case(
        "unknown config type",
        _set(
            "config_type", "quantify_scheduler.backends.zhinst_backend.ZIHardwareCompilationConfig"
        ),
        ErrorCode.CONFIG_BAD_VALUE,
        "config_type",
        "QbloxHardwareCompilationConfig",
    ),
    Case(
        "amp_ratio out of range",
        _option("mixer_corrections", "q3:mw-q3.01", {"amp_ratio": 2.5}),
        ErrorCode.CONFIG_BAD_VALUE,
        "hardware_options.mixer_corrections.q3:mw-q3.01.amp_ratio",
        "valid: 0.5 to 2",
    ),
    Case(
        "phase_error out of range",
        _option("mixer_corrections", "q3:mw-q3.01", {"phase_error": -50}),
        ErrorCode.CONFIG_BAD_VALUE,
        "hardware_options.mixer_corrections.q3:mw-q3.01.phase_error",
        "-45 to 45 degrees",
    ),
    Case(
        "DC offset beyond an RF module's range",
        _option("mixer_corrections", "q3:mw-q3.01", {"dc_offset_i": 0.1}),
        ErrorCode.CONFIG_BAD_VALUE,
        "hardware_options.mixer_corrections.q3:mw-q3.01.dc_offset_i",
        "out of range for a QCM_RF",
    ),
    Case(
        "odd output attenuation on a QCM_RF",
        _option("output_att", "q3:mw-q3.01", 7),
        ErrorCode.CONFIG_BAD_VALUE,
        "hardware_options.output_att.q3:mw-q3.01",
        "0 to 60 dB in steps of 2 dB",
    ),
    Case(
        "output attenuation above any module's maximum",
        _option("output_att", "q3:mw-q3.01", 62),
        ErrorCode.CONFIG_BAD_VALUE,
        "hardware_options.output_att.q3:mw-q3.01",
        "attenuation 62 dB is out of range",
    ),
    Case(
        "QRM_RF input attenuation above 30 dB",
        _option("input_att", "q1:res-q1.ro", 32),
        ErrorCode.CONFIG_BAD_VALUE,
        "hardware_options.input_att.q1:res-q1.ro",
        "0 to 30 dB in steps of 2 dB",
    ),
    Case(
        "QRC attenuation off the 0.5 dB grid",
        _option("output_att", "q4:mw-q4.01", 5.25),
        ErrorCode.CONFIG_BAD_VALUE,
        "hardware_options.output_att.q4:mw-q4.01",
        "steps of 0.5 dB",
    ),
    Case(
        "input gain out of range",
        _option("input_gain", "q0:res-q0.ro", {"gain_I": 30, "gain_Q": 0}),
        ErrorCode.CONFIG_BAD_VALUE,
        "hardware_options.input_gain.q0:res-q0.ro.gain_I",
        "-6 to 26 dB",
    ),
    Case(
        "real input gain on a complex input",
        _option("input_gain", "q0:res-q0.ro", 4),
        ErrorCode.CONFIG_BAD_VALUE,
        "hardware_options.input_gain.q0:res-q0.ro",
        "must be {gain_I, gain_Q}",
    ),
    Case(
        "input gain on an RF readout module",
        _option("input_gain", "q1:res-q1.ro", {"gain_I": 2, "gain_Q": 2}),
        ErrorCode.CONFIG_BAD_VALUE,
        "hardware_options.input_gain.q1:res-q1.ro",
        "RF readout modules use input_att",
    ),
    Case(
        "port driven by two outputs",
        _edge("cluster0.module1.complex_output_1", "q3:mw"),
        ErrorCode.CONFIG_CONFLICTING_CHANNELS,
        f"connectivity.graph[{N}]",
        "port 'q3:mw' is driven by 2 outputs",
    ),
    Case(
        "digital and analog channels on one port",
        _edge("cluster0.module1.digital_output_1", "q1:fl"),
        ErrorCode.CONFIG_CONFLICTING_CHANNELS,
        f"connectivity.graph[{N}]",
        "mixes digital and analog",
    ),
    Case(
        "output and input on different modules",
        _edge("cluster0.module4.complex_input_0", "q3:mw"),
        ErrorCode.CONFIG_CONFLICTING_CHANNELS,
        f"connectivity.graph[{N}]",
        "different modules",
    ),
    Case(
        "QTM channel used as input and output",
        _edge("cluster0.module6.digital_output_0", "q5:shutter"),
        ErrorCode.CONFIG_CONFLICTING_CHANNELS,
        f"connectivity.graph[{N}]",
        "QTM channel 1 is wired both",
    ),
    Case(
        "v0.2 pair of different modes on a QRM",
        _edge("cluster0.module2.real_input_0", "q0:res"),
        ErrorCode.CONFIG_CHANNEL_PAIR,
        f"connectivity.graph[{N}]",
        "complex_output_0 + complex_input_0 + real_input_0",
    ),
    Case(
        "mixer without an LO",
        _drop_edge("lo_drive.output", "mixer_drive.lo"),
        ErrorCode.CONFIG_BAD_VALUE,
        "connectivity.graph[1]",
        "no local oscillator feeds 'mixer_drive.lo'",
    ),
    Case(
        "edge from an LO straight to a port",
        _edge("lo_drive.output", "q9:mw"),
        ErrorCode.CONFIG_BAD_VALUE,
        f"connectivity.graph[{N}]",
        "connects nothing the compiler can route",
    ),
    Case(
        "edge with three ends",
        lambda c: graph(c).append(["cluster0.module1.complex_output_1", "q9:mw", "q8:mw"]),
        ErrorCode.CONFIG_BAD_VALUE,
        f"connectivity.graph[{N}]",
        "at most 2 items",
    ),
    Case(
        "empty list as an edge end",
        _edge("cluster0.module1.complex_output_1", []),
        ErrorCode.CONFIG_BAD_VALUE,
        f"connectivity.graph[{N}][1]",
        "at least 1 item",
    ),
    Case(
        "software distortion correction missing a key",
        _option(
            "distortion_corrections",
            "q0:fl-cl0.baseband",
            {"filter_func": "scipy.signal.lfilter", "kwargs": {}},
        ),
        ErrorCode.CONFIG_MISSING_KEY,
        "hardware_options.distortion_corrections.q0:fl-cl0.baseband.input_var_name",
        "missing required key 'input_var_name'",
    ),
    Case(
        "one hardware distortion correction on a complex channel",
        _option("distortion_corrections", "q3:mw-q3.01", {"fir_coeffs": [1.0]}),
        ErrorCode.CONFIG_BAD_VALUE,
        "hardware_options.distortion_corrections.q3:mw-q3.01",
        "takes a list of two corrections",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_invalid_config_reports_code_path_and_phrase(case: Case) -> None:
    config = example("transmon_full")
    assert len(graph(config)) == N
    case.mutate(config)
    found = errors(check_hardware_config(config))
    assert [(d.code, d.path) for d in found] == [(case.code, case.path)], found
    text = f"{found[0].message} ({found[0].hint})"
    assert case.phrase in text


def test_enough_cases() -> None:
    assert len(CASES) >= 15
    assert len({c.code for c in CASES}) >= 10


def test_every_error_is_collected_across_sections() -> None:
    config = example("transmon_full")
    modules(config)["2"]["instrument_type"] = "QRX"
    options(config, "mixer_corrections")["q3:mw-q3.01"] = {"amp_ratio": 3.0}
    options(config, "output_att")["q3:mw-q3.01"] = 61
    graph(config).append(["cluster0.module1.complex_output_1", "q3:mw"])
    config["extra"] = 1
    found = {(d.code, d.path) for d in errors(check_hardware_config(config))}
    assert found == {
        (
            ErrorCode.CONFIG_UNKNOWN_MODULE_TYPE,
            "hardware_description.cluster0.modules.2.instrument_type",
        ),
        (ErrorCode.CONFIG_BAD_VALUE, "hardware_options.mixer_corrections.q3:mw-q3.01.amp_ratio"),
        (ErrorCode.CONFIG_BAD_VALUE, "hardware_options.output_att.q3:mw-q3.01"),
        (ErrorCode.CONFIG_UNKNOWN_KEY, "extra"),
    }


def test_wiring_errors_are_found_when_only_the_options_are_invalid() -> None:
    config = example("transmon_full")
    options(config, "mixer_corrections")["q3:mw-q3.01"] = {"amp_ratio": 3.0}
    graph(config).append(["cluster0.module1.complex_output_1", "q3:mw"])
    graph(config).append(["cluster0.module3.real_output_0", "q9:mw"])
    codes = {d.code for d in errors(check_hardware_config(config))}
    assert codes == {
        ErrorCode.CONFIG_BAD_VALUE,
        ErrorCode.CONFIG_CONFLICTING_CHANNELS,
        ErrorCode.CONFIG_UNKNOWN_CHANNEL,
    }


def test_options_for_an_unconnected_port_are_a_warning() -> None:
    config = example("default")
    options(config, "mixer_corrections")["q7:mw-q7.01"] = {"amp_ratio": 1.1}
    options(config, "latency_corrections")["nonsense"] = 4e-9
    loaded = load_hardware_config(config)
    assert [(w.code, w.path) for w in loaded.warnings] == [
        (ErrorCode.CONFIG_UNUSED_PORT, "hardware_options.latency_corrections.nonsense"),
        (ErrorCode.CONFIG_UNUSED_PORT, "hardware_options.mixer_corrections.q7:mw-q7.01"),
    ]
    assert "did you mean 'q1:mw'" in str(loaded.warnings[1].hint)


def test_settings_without_effect_are_warnings() -> None:
    config = example("transmon_full")
    options(config, "output_att")["q1:fl-cl0.baseband"] = 4
    options(config, "modulation_frequencies")["q1:fl-cl0.baseband"] = {"lo_freq": 1e9}
    options(config, "latency_corrections")["q1:fl-cl0.baseband"] = 2.5e-9
    options(config, "input_att")["q2:res-q2.ro"] = 12
    options(config, "modulation_frequencies")["q2:mw-q2.01"] = {"lo_freq": 5.1e9}
    options(config, "modulation_frequencies")["q3:mw-q3.01"] = {"interm_freq": 6e8}
    found = check_hardware_config(config)
    assert errors(found) == []
    mf = "hardware_options.modulation_frequencies"
    assert {(w.code, w.path) for w in warnings(found)} == {
        (ErrorCode.CONFIG_FREQUENCY_INCONSISTENT, f"{mf}.q2:mw-q2.01.lo_freq"),
        (ErrorCode.CONFIG_BAD_VALUE, f"{mf}.q3:mw-q3.01.interm_freq"),
        (ErrorCode.CONFIG_BAD_VALUE, f"{mf}.q1:fl-cl0.baseband.lo_freq"),
        (ErrorCode.CONFIG_BAD_VALUE, "hardware_options.latency_corrections.q1:fl-cl0.baseband"),
        (ErrorCode.CONFIG_BAD_VALUE, "hardware_options.output_att.q1:fl-cl0.baseband"),
        (ErrorCode.CONFIG_BAD_VALUE, "hardware_options.input_att.q2:res-q2.ro"),
    }


def test_wiring_that_routes_but_is_odd_gives_warnings() -> None:
    config = example("transmon_full")
    graph(config)[2] = ["mixer_drive.out", "q0:mw"]  # an IQ mixer's output is called 'rf'
    graph(config).append(["q0:mw", "q1:mw"])
    loaded = load_hardware_config(config)
    assert [(w.code, w.path) for w in loaded.warnings] == [
        (ErrorCode.CONFIG_BAD_NODE, "connectivity.graph[2]"),
        (ErrorCode.CONFIG_BAD_VALUE, f"connectivity.graph[{N}]"),
    ]
    assert "rename it 'mixer_drive.rf'" in str(loaded.warnings[0].hint)
    route = loaded.route("q0:mw")
    assert route is not None
    assert route.mixer == "mixer_drive"
