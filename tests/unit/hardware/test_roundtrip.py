"""Property: for generated valid configs, dump -> load is the identity (and dump is the input)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qconductor.protocol.hardware import MODULE_SPECS, MODULE_TYPES, load_hardware_config

INPUT_FOR = {"complex_output_0": "complex_input_0", "real_output_0": "real_input_0"}

channel_settings = st.fixed_dictionaries(
    {},
    optional={
        "marker_debug_mode_enable": st.booleans(),
        "mix_lo": st.booleans(),
        "downconverter_freq": st.none() | st.floats(0, 2e10),
    },
)


@st.composite
def wired_module(draw: st.DrawFn, slot: int) -> tuple[dict[str, Any], list[Any], list[str]]:
    """One module description, its edges (one output per port set), and its analog ports."""
    kind = draw(st.sampled_from([k for k in MODULE_TYPES if k != "QSM"]))
    module: dict[str, Any] = {"instrument_type": kind}
    if draw(st.booleans()):
        module["sequence_to_file"] = draw(st.booleans())
    outputs = [c for c in MODULE_SPECS[kind].channels if "_output_" in c]
    edges: list[Any] = []
    analog: list[str] = []
    n = 0
    for channel in draw(st.lists(st.sampled_from(outputs), unique=True, max_size=3)):
        ports = [f"e{slot}_{n + i}:p" for i in range(draw(st.integers(1, 2)))]
        n += len(ports)
        end: Any = ports if len(ports) > 1 or draw(st.booleans()) else ports[0]
        edges.append([f"cluster0.module{slot}.{channel}", end])
        if kind in ("QRM", "QRM_RF") and channel in INPUT_FOR and draw(st.booleans()):
            edges.append([f"cluster0.module{slot}.{INPUT_FOR[channel]}", end])
        if channel.startswith("complex") and draw(st.booleans()):
            module[channel] = draw(channel_settings)
        if not channel.startswith("digital"):
            analog += ports
    return module, edges, analog


option_values: dict[str, st.SearchStrategy[Any]] = {
    "modulation_frequencies": st.fixed_dictionaries(
        {},
        optional={
            "interm_freq": st.none() | st.floats(-5e8, 5e8),
            "lo_freq": st.none() | st.floats(2e9, 18e9),
        },
    ),
    "mixer_corrections": st.fixed_dictionaries(
        {},
        optional={
            "amp_ratio": st.floats(0.5, 2.0),
            "phase_error": st.floats(-45, 45),
            "dc_offset_i": st.floats(-0.01, 0.01),
        },
    ),
    "latency_corrections": st.integers(-50, 50).map(lambda ns: ns * 1e-9),
}


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    slots = draw(st.lists(st.integers(1, 20), unique=True, min_size=1, max_size=4))
    described: dict[str, Any] = {}
    edges: list[Any] = []
    analog: list[str] = []
    for slot in slots:
        module, more_edges, ports = draw(wired_module(slot))
        described[str(slot)] = module
        edges += more_edges
        analog += ports
    cluster: dict[str, Any] = {
        "instrument_type": "Cluster",
        "ref": "internal",
        "modules": described,
    }
    if draw(st.booleans()):
        cluster["ip"] = draw(st.none() | st.just("10.0.0.7"))
    options: dict[str, Any] = {}
    keys = [f"{p}-{p.split(':')[0]}.c" for p in analog]
    for key in draw(st.lists(st.sampled_from(keys), unique=True)) if keys else []:
        table = draw(st.sampled_from(sorted(option_values)))
        options.setdefault(table, {})[key] = draw(option_values[table])
    config: dict[str, Any] = {
        "hardware_description": {"cluster0": cluster},
        "hardware_options": options,
        "connectivity": {"graph": edges},
    }
    version = draw(st.sampled_from([None, "0.1", "0.2"]))
    if version is not None:
        config["version"] = version
    if draw(st.booleans()):
        config["config_type"] = "QbloxHardwareCompilationConfig"
    return config


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_dump_then_load_is_the_identity(raw: dict[str, Any]) -> None:
    config = load_hardware_config(raw)
    dumped = config.dump()
    assert dumped == raw
    again = load_hardware_config(dumped)
    assert again == config
    assert again.dump() == dumped
    assert again.ports() == config.ports()
    for port in config.ports():
        assert again.route(port) == config.route(port)
