"""Loading: the seeds and the example configs load unchanged, every kind of source works."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.hardware import (
    HardwareConfig,
    check_hardware_config,
    hardware_config_json_schema,
    load_hardware_config,
)

from .factories import CONFIG_DIR, example

EXAMPLES = ["default", "transmon_full", "nv_center", "seed_v01", "seed_v02"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_configs_load_without_diagnostics(name: str) -> None:
    assert check_hardware_config(CONFIG_DIR / f"{name}.json") == []
    config = load_hardware_config(CONFIG_DIR / f"{name}.json")
    assert config.warnings == []


@pytest.mark.parametrize("name", EXAMPLES)
def test_dump_is_exactly_what_the_user_wrote(name: str) -> None:
    raw = example(name)
    config = load_hardware_config(raw)
    assert config.dump() == raw
    assert load_hardware_config(config.dump()) == config


def test_seed_v01_loads_unchanged() -> None:
    config = load_hardware_config(CONFIG_DIR / "seed_v01.json")
    assert config.version == "0.1"
    assert config.modules() == [("cluster0", 1, "QCM")]
    assert config.ports() == ["q0:mw"]
    route = config.route("q0:mw")
    assert route is not None
    assert [c.node for c in route.outputs] == ["cluster0.module1.complex_output_0"]
    assert route.inputs == ()


def test_seed_v02_loads_unchanged() -> None:
    config = load_hardware_config(CONFIG_DIR / "seed_v02.json")
    assert config.version == "0.2"
    assert config.modules() == [("cluster0", 1, "QRM"), ("cluster0", 2, "QRM_RF")]
    q0 = config.route("q0:res")
    q1 = config.route("q1:res")
    assert q0 is not None
    assert q1 is not None
    assert [c.channel for c in q0.outputs] == ["real_output_0"]
    assert [c.channel for c in q0.inputs] == ["real_input_1"]
    assert [c.channel for c in q1.inputs] == ["complex_input_0"]


def test_absent_version_means_0_1_and_stays_absent() -> None:
    raw = example("seed_v01")
    del raw["version"]
    config = load_hardware_config(raw)
    assert config.version == "0.1"
    assert "version" not in config.dump()


@pytest.mark.parametrize(
    "config_type",
    [
        "quantify_scheduler.backends.qblox_backend.QbloxHardwareCompilationConfig",
        "QbloxHardwareCompilationConfig",
    ],
)
def test_config_type_of_both_reference_packages(config_type: str) -> None:
    raw = example("seed_v01")
    raw["config_type"] = config_type
    assert load_hardware_config(raw).config_type == config_type


def test_sources_path_text_and_mapping_give_equal_configs(tmp_path: Path) -> None:
    text = (CONFIG_DIR / "transmon_full.json").read_text()
    by_path = load_hardware_config(CONFIG_DIR / "transmon_full.json")
    assert load_hardware_config(str(CONFIG_DIR / "transmon_full.json")) == by_path
    assert load_hardware_config(text) == by_path
    assert load_hardware_config(json.loads(text)) == by_path


def test_reference_style_dump_with_nulls_and_defaults_loads() -> None:
    """What quantify's model_dump writes (every field, nulls included) must load too."""
    raw: dict[str, Any] = {
        "version": "0.1",
        "hardware_description": {
            "cluster0": {
                "instrument_type": "Cluster",
                "ref": "internal",
                "sequence_to_file": False,
                "modules": {
                    "1": {
                        "instrument_type": "QRM",
                        "sequence_to_file": False,
                        "complex_output_0": {
                            "marker_debug_mode_enable": False,
                            "mix_lo": True,
                            "downconverter_freq": None,
                            "distortion_correction_latency_compensation": 0,
                        },
                        "complex_input_0": None,
                        "real_output_0": None,
                    }
                },
                "ip": None,
                "sync_on_external_trigger": None,
            },
            "lo0": {
                "instrument_type": "LocalOscillator",
                "instrument_name": None,
                "generic_icc_name": None,
                "frequency_param": "frequency",
                "power_param": "power",
                "power": None,
            },
        },
        "hardware_options": {
            "crosstalk": None,
            "latency_corrections": None,
            "mixer_corrections": {
                "q0:res-q0.ro": {
                    "dc_offset_i": None,
                    "dc_offset_q": None,
                    "amp_ratio": 1.0,
                    "phase_error": 0.0,
                    "auto_lo_cal": "off",
                    "auto_sideband_cal": "off",
                }
            },
        },
        "connectivity": {"graph": [["cluster0.module1.complex_output_0", "q0:res"]]},
        "compiler_options": None,
        "allow_off_grid_nco_ops": None,
    }
    config = load_hardware_config(raw)
    assert config.dump() == raw
    assert config.warnings == []


def test_unreadable_sources_are_parse_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "0.2",}')
    for source in (bad, tmp_path / "missing.json", "[1, 2]", '{"a": None}'):
        with pytest.raises(QconductorError) as info:
            load_hardware_config(source)
        assert info.value.code == ErrorCode.CONFIG_PARSE
        [diagnostic] = check_hardware_config(source)
        assert diagnostic.code == ErrorCode.CONFIG_PARSE
    (tmp_path / "list.json").write_text("[]")
    [diagnostic] = check_hardware_config(tmp_path / "list.json")
    assert "not an object" in diagnostic.message


def test_old_style_config_is_rejected_with_a_pointer() -> None:
    old = {"backend": "quantify_scheduler.backends.qblox_backend.hardware_compile"}
    [diagnostic] = check_hardware_config(old)
    assert diagnostic.code == ErrorCode.CONFIG_UNSUPPORTED_VERSION
    assert diagnostic.path == "backend"


def test_load_raises_with_every_error_in_details() -> None:
    raw = example("default")
    raw["hardware_description"]["cluster0"]["ref"] = "intern"
    raw["hardware_options"]["mixer_corrections"] = {"q0:mw-q0.01": {"amp_ratio": 7}}
    with pytest.raises(QconductorError) as info:
        load_hardware_config(raw)
    assert info.value.code == ErrorCode.CONFIG_INVALID
    assert {d.path for d in info.value.details} == {
        "hardware_description.cluster0.ref",
        "hardware_options.mixer_corrections.q0:mw-q0.01.amp_ratio",
    }
    assert info.value.path == "hardware_description.cluster0.ref"


def test_single_error_keeps_its_own_code() -> None:
    raw = example("default")
    raw["version"] = "1.0"
    with pytest.raises(QconductorError) as info:
        load_hardware_config(raw)
    assert info.value.code == ErrorCode.CONFIG_UNSUPPORTED_VERSION
    assert info.value.path == "version"


def test_compatibility_fields_are_accepted_with_warnings() -> None:
    raw = example("seed_v01")
    raw["compilation_passes"] = [
        {"name": "qblox_hardware_compile", "compilation_func": "a.b.hardware_compile"}
    ]
    raw["allow_off_grid_nco_ops"] = True
    raw["compiler_options"] = {"auto_rf_switch": True, "retime_allowed": True}
    config = load_hardware_config(raw)
    assert {w.path for w in config.warnings} == {"compilation_passes", "allow_off_grid_nco_ops"}
    assert config.dump() == raw


def test_qblox_scheduler_only_fields_are_accepted() -> None:
    raw = example("transmon_full")
    cluster = raw["hardware_description"]["cluster0"]
    cluster["port"] = 5025
    cluster["module_base_port"] = 1200
    cluster["modules"]["3"]["rf_output_on"] = "auto"
    cluster["modules"]["3"]["sequencer_isa_version"] = [1, 0]
    cluster["modules"]["7"] = {"instrument_type": "QSM"}
    raw["hardware_options"]["distortion_corrections"]["q1:fl-cl0.baseband"] = {
        "exp0_coeffs": {"time_constant": 2e-6, "amplitude": -0.1},
        "ihp_coeffs": {"time_constant": 1e-3},
    }
    raw["hardware_options"]["source_mode"] = {"cluster0.module7.io_channel_0": "v_source"}
    raw["hardware_options"]["net_zero_pulse_parameters"] = {
        "q0:fl-cl0.baseband": {"max_amplitude": 0.5, "slew_rate": 1e6}
    }
    config = load_hardware_config(raw)
    assert load_hardware_config(config.dump()) == config
    assert ("cluster0", 7, "QSM") in config.modules()


def test_json_schema_describes_the_model() -> None:
    schema = hardware_config_json_schema()
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"hardware_description", "hardware_options", "connectivity"}
    assert "description" in schema["properties"]["version"]
    text = json.dumps(schema)
    for name in ("QCMRFDescription", "MixerCorrections", "ModulationFrequencies"):
        assert name in text


def test_loading_a_typical_config_is_fast() -> None:
    raw = example("transmon_full")
    load_hardware_config(raw)
    start = time.perf_counter()
    for _ in range(20):
        load_hardware_config(raw)
    per_load = (time.perf_counter() - start) / 20
    assert per_load < 0.010


def test_config_is_immutable_and_equal_ignores_cached_views() -> None:
    a = load_hardware_config(example("default"))
    b = load_hardware_config(example("default"))
    assert a.route("q0:mw") is not None
    assert a == b
    assert isinstance(a, HardwareConfig)
    with pytest.raises(ValidationError, match="frozen"):
        setattr(a, "version", "0.1")  # noqa: B010
