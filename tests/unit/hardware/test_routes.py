"""Routes: what drives and reads each port, version 0.1 implied inputs vs 0.2 explicit pairs."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from qconductor.protocol.errors import ErrorCode
from qconductor.protocol.hardware import (
    MODULE_SPECS,
    ChannelRef,
    check_hardware_config,
    load_hardware_config,
    parse_channel_name,
    solve_frequencies,
)

from .factories import errors, example, graph, modules


def _cluster(version: str | None, slots: dict[str, str], edges: list[Any]) -> dict[str, Any]:
    config: dict[str, Any] = {
        "hardware_description": {
            "cluster0": {
                "instrument_type": "Cluster",
                "ref": "internal",
                "modules": {slot: {"instrument_type": kind} for slot, kind in slots.items()},
            }
        },
        "hardware_options": {},
        "connectivity": {"graph": edges},
    }
    if version is not None:
        config["version"] = version
    return config


def _inputs(config: dict[str, Any], port: str) -> list[str]:
    route = load_hardware_config(config).route(port)
    assert route is not None
    return [c.channel for c in route.inputs]


@pytest.mark.parametrize(
    ("kind", "output", "implied"),
    [
        ("QRM", "complex_output_0", ["complex_input_0"]),
        ("QRM", "real_output_0", ["real_input_0", "real_input_1"]),
        ("QRM", "real_output_1", ["real_input_0", "real_input_1"]),
        ("QRM_RF", "complex_output_0", ["complex_input_0"]),
        ("QCM", "complex_output_0", []),
        ("QCM_RF", "complex_output_1", []),
    ],
)
def test_v01_output_activates_inputs_v02_does_not(
    kind: str, output: str, implied: list[str]
) -> None:
    edges = [[f"cluster0.module1.{output}", "q0:res"]]
    for version in (None, "0.1"):
        config = load_hardware_config(_cluster(version, {"1": kind}, edges))
        route = config.route("q0:res")
        assert route is not None
        assert [c.channel for c in route.inputs] == implied
        assert [c.channel for c in route.implied_inputs] == implied
    assert _inputs(_cluster("0.2", {"1": kind}, edges), "q0:res") == []


def test_v01_real_output_with_one_explicit_real_input_reads_the_other_too() -> None:
    edges = [
        ["cluster0.module1.real_output_0", "q0:res"],
        ["cluster0.module1.real_input_0", "q0:res"],
    ]
    config = load_hardware_config(_cluster("0.1", {"1": "QRM"}, edges))
    route = config.route("q0:res")
    assert route is not None
    assert [c.channel for c in route.inputs] == ["real_input_0", "real_input_1"]
    assert [c.channel for c in route.implied_inputs] == ["real_input_1"]
    assert _inputs(_cluster("0.2", {"1": "QRM"}, edges), "q0:res") == ["real_input_0"]


def test_v01_explicit_complex_pair_implies_nothing_more() -> None:
    edges = [
        ["cluster0.module1.complex_output_0", "q0:res"],
        ["cluster0.module1.complex_input_0", "q0:res"],
    ]
    config = load_hardware_config(_cluster("0.1", {"1": "QRM"}, edges))
    route = config.route("q0:res")
    assert route is not None
    assert route.implied_inputs == ()
    assert [c.channel for c in route.inputs] == ["complex_input_0"]


@pytest.mark.parametrize(
    ("kind", "output", "inputs"),
    [
        ("QRM", "complex_output_0", ["complex_input_0"]),
        ("QRM", "real_output_0", ["real_input_1"]),
        ("QRM", "real_output_1", ["real_input_0"]),
        ("QRM", "real_output_0", ["real_input_0", "real_input_1"]),
        ("QRM_RF", "complex_output_0", ["complex_input_0"]),
        ("QRC", "complex_output_0", ["complex_input_0"]),
        ("QRC", "complex_output_1", ["complex_input_1"]),
    ],
)
def test_v02_allowed_pairs(kind: str, output: str, inputs: list[str]) -> None:
    edges = [[f"cluster0.module1.{output}", "q0:res"]]
    edges += [[f"cluster0.module1.{i}", "q0:res"] for i in inputs]
    assert _inputs(_cluster("0.2", {"1": kind}, edges), "q0:res") == inputs


@pytest.mark.parametrize(
    ("kind", "channels"),
    [
        ("QRM", ["complex_output_0", "real_input_0"]),
        ("QRM", ["real_output_0", "complex_input_0"]),
        ("QRM", ["complex_input_0", "real_input_0"]),
        ("QRM", ["real_input_0", "real_input_1"]),
        ("QTM", ["digital_output_0", "digital_input_1"]),
    ],
)
def test_v02_forbidden_pairs(kind: str, channels: list[str]) -> None:
    edges = [[f"cluster0.module1.{c}", "q0:res"] for c in channels]
    for version in ("0.1", "0.2"):
        found = errors(check_hardware_config(_cluster(version, {"1": kind}, edges)))
        assert [(d.code, d.path) for d in found] == [
            (ErrorCode.CONFIG_CHANNEL_PAIR, "connectivity.graph[1]")
        ]


def test_frequency_multiplexed_readout_in_default_config() -> None:
    config = load_hardware_config(example("default"))
    assert config.ports() == ["q0:mw", "q0:res", "q0:trig", "q1:mw", "q1:res"]
    for port in ("q0:res", "q1:res"):
        route = config.route(port)
        assert route is not None
        assert [c.node for c in route.outputs] == ["cluster0.module2.complex_output_0"]
        assert [c.node for c in route.inputs] == ["cluster0.module2.complex_input_0"]
        assert route.lo is None
        assert not route.is_rf
    assert config.route("q9:mw") is None


def test_route_through_iq_mixer_names_the_lo() -> None:
    config = load_hardware_config(example("transmon_full"))
    route = config.route("q0:mw")
    assert route is not None
    assert route.mixer == "mixer_drive"
    assert route.lo is not None
    assert route.lo.name == "lo_drive"
    assert route.lo.instrument_name == "sgs100a_1"
    assert route.lo.power == 12
    assert route.marker_debug_mode_enable
    [output] = route.outputs
    assert output == ChannelRef("cluster0", 1, "QCM", "complex_output_0")
    readout = config.route("q0:res")
    assert readout is not None
    assert readout.lo is not None
    assert readout.lo.instrument_name == "lo_readout"
    assert [c.node for c in readout.inputs] == ["cluster0.module2.complex_input_0"]


def test_nv_centre_port_has_one_path_per_laser() -> None:
    config = load_hardware_config(example("nv_center"))
    route = config.route("qe0:optical_control")
    assert route is not None
    assert len(route.paths) == 3
    assert route.lo is None
    chosen = {
        clock: getattr(route.path_for_clock(clock), "mixer", None)
        for clock in ("qe0.ge1", "qe0.ionization", "qe0.ge0", "qe0.other")
    }
    assert chosen == {
        "qe0.ge1": "optical_mod_spinpump_laser",
        "qe0.ionization": "optical_mod_green_laser",
        "qe0.ge0": "optical_mod_red_laser",
        "qe0.other": None,
    }
    path = route.path_for_clock("qe0.ge0")
    assert path is not None
    assert path.lo is not None
    assert path.lo.name == "red_laser"
    assert path.channel.channel == "real_output_2"


def test_modules_and_channel_refs() -> None:
    config = load_hardware_config(example("transmon_full"))
    assert config.modules() == [
        ("cluster0", 1, "QCM"),
        ("cluster0", 2, "QRM"),
        ("cluster0", 3, "QCM_RF"),
        ("cluster0", 4, "QRM_RF"),
        ("cluster0", 5, "QRC"),
        ("cluster0", 6, "QTM"),
    ]
    rf = ChannelRef("cluster0", 3, "QCM_RF", "complex_output_1")
    assert (rf.direction, rf.is_complex, rf.is_rf, rf.index) == ("output", True, True, 1)
    assert rf.io_indices == (2, 3)
    assert rf.marker_bit == 0b0010
    marker = ChannelRef("cluster0", 4, "QRM_RF", "digital_output_1")
    assert (marker.is_digital, marker.marker_bit) == (True, 0b1000)
    real_in = ChannelRef("cluster0", 2, "QRM", "real_input_1")
    assert (real_in.direction, real_in.is_real, real_in.io_indices) == ("input", True, (1,))
    assert str(real_in) == "cluster0.module2.real_input_1"


def test_channel_table_matches_the_models() -> None:
    from qconductor.protocol.hardware import description

    classes: dict[str, type[BaseModel]] = {
        "QCM": description.QCMDescription,
        "QRM": description.QRMDescription,
        "QCM_RF": description.QCMRFDescription,
        "QRM_RF": description.QRMRFDescription,
        "QRC": description.QRCDescription,
        "QTM": description.QTMDescription,
        "QSM": description.QSMDescription,
    }
    for kind, spec in MODULE_SPECS.items():
        fields = [f for f in classes[kind].model_fields if parse_channel_name(f) is not None]
        assert sorted(fields) == sorted(spec.channels), kind
        assert set(spec.marker_bits) <= set(spec.channels)
    assert MODULE_SPECS["QRC"].sequencers == 12
    assert MODULE_SPECS["QTM"].sequencers == 8


def test_options_for_collects_every_option_of_a_port_clock() -> None:
    config = load_hardware_config(example("transmon_full"))
    q0 = config.options_for("q0:res", "q0.ro")
    assert q0.lo_freq == 7.2e9
    assert q0.interm_freq is None
    assert q0.input_gain is not None
    assert q0.latency_correction_ns == 12
    assert q0.sequencer_options is not None
    assert q0.sequencer_options.ttl_acq_threshold == 0.2
    assert (
        q0.path("modulation_frequencies") == "hardware_options.modulation_frequencies.q0:res-q0.ro"
    )
    q1 = config.options_for("q1:mw", "q1.01")
    assert q1.output_att == 10
    assert q1.mixer_corrections is not None
    assert q1.mixer_corrections.auto_lo_cal == "on_lo_interm_freq_change"
    fl = config.options_for("q0:fl", "cl0.baseband")
    assert fl.crosstalk is None
    assert fl.distortion is not None
    nothing = config.options_for("q0:mw", "q0.12")
    assert (nothing.modulation_frequencies, nothing.output_att, nothing.distortion) == (
        None,
        None,
        None,
    )


def test_auto_calibration_overrides_are_applied_in_options_for() -> None:
    raw = example("transmon_full")
    raw["hardware_options"]["mixer_corrections"]["q3:mw-q3.01"] = {
        "dc_offset_i": 0.01,
        "amp_ratio": 1.1,
        "auto_lo_cal": "on_lo_freq_change",
        "auto_sideband_cal": "on_interm_freq_change",
    }
    config = load_hardware_config(raw)
    corrections = config.options_for("q3:mw", "q3.01").mixer_corrections
    assert corrections is not None
    assert (corrections.dc_offset_i, corrections.amp_ratio) == (None, 1.0)
    assert {w.path for w in config.warnings} == {"hardware_options.mixer_corrections.q3:mw-q3.01"}
    assert config.dump() == raw


def test_list_valued_edge_ends_expand_to_every_pair() -> None:
    config = _cluster(
        "0.2",
        {"1": "QRM"},
        [
            [
                ["cluster0.module1.complex_output_0", "cluster0.module1.complex_input_0"],
                ["q0:res", "q1:res"],
            ]
        ],
    )
    loaded = load_hardware_config(config)
    for port in ("q0:res", "q1:res"):
        route = loaded.route(port)
        assert route is not None
        assert ([c.channel for c in route.outputs], [c.channel for c in route.inputs]) == (
            ["complex_output_0"],
            ["complex_input_0"],
        )
    assert loaded.dump() == config


def test_modules_dict_accepts_int_keys_from_python() -> None:
    raw = example("seed_v01")
    described: dict[Any, Any] = modules(raw)
    described[1] = described.pop("1")
    config = load_hardware_config(raw)
    assert config.modules() == [("cluster0", 1, "QCM")]
    assert graph(config.dump()) == graph(raw)


def test_crosstalk_is_keyed_by_port_clock() -> None:
    raw = example("transmon_full")
    raw["hardware_options"]["crosstalk"] = {
        "q0:fl-cl0.baseband": {"q1:fl-cl0.baseband": 0.02, "q2:fl-cl0.baseband": "0.01+0.002j"},
        "q1:fl": {"q0:fl-cl0.baseband": 0.03},
    }
    config = load_hardware_config(raw)
    assert config.options_for("q0:fl", "cl0.baseband").crosstalk == {
        "q1:fl-cl0.baseband": 0.02,
        "q2:fl-cl0.baseband": 0.01 + 0.002j,
    }
    assert [(w.code, w.path) for w in config.warnings] == [
        (
            ErrorCode.CONFIG_UNUSED_PORT,
            "hardware_options.crosstalk.q0:fl-cl0.baseband.q2:fl-cl0.baseband",
        ),
        (ErrorCode.CONFIG_UNUSED_PORT, "hardware_options.crosstalk.q1:fl"),
    ]
    assert load_hardware_config(config.dump()) == config


def test_input_read_through_a_mixer() -> None:
    """A photon counter's input behind a mixer: the input path carries the LO."""
    raw: dict[str, Any] = {
        "hardware_description": {
            "cluster0": {
                "instrument_type": "Cluster",
                "ref": "internal",
                "modules": {"2": {"instrument_type": "QRM"}},
            },
            "laser": {"instrument_type": "LocalOscillator", "power": 2},
            "demod": {"instrument_type": "IQMixer"},
        },
        "hardware_options": {
            "modulation_frequencies": {"e0:readout-e0.ge0": {"interm_freq": 30e6}}
        },
        "connectivity": {
            "graph": [
                ["cluster0.module2.real_input_1", "demod.if"],
                ["laser.output", "demod.lo"],
                ["demod.rf", "e0:readout"],
            ]
        },
    }
    config = load_hardware_config(raw)
    route = config.route("e0:readout")
    assert route is not None
    assert route.outputs == ()
    assert [c.node for c in route.inputs] == ["cluster0.module2.real_input_1"]
    assert route.lo is not None
    assert route.lo.name == "laser"
    assert route.mixer == "demod"
    opts = config.options_for("e0:readout", "e0.ge0")
    plan = solve_frequencies(1e9, route, opts, path=opts.path("modulation_frequencies"))
    assert (plan.nco_freq, plan.lo_freq, plan.lo_kind) == (30e6, 1e9 - 30e6, "external")


def test_the_same_wiring_written_twice_counts_once() -> None:
    raw = example("default")
    graph(raw).append(["q0:mw", "cluster0.module1.complex_output_0"])
    graph(raw).append(["cluster0.module2.complex_input_0", ["q0:res", "q0:res"]])
    config = load_hardware_config(raw)
    assert config.warnings == []
    route = config.route("q0:res")
    assert route is not None
    assert [c.channel for c in route.inputs] == ["complex_input_0"]
