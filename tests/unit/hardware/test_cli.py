"""The functions behind ``qconductor config check | schema | upgrade``."""

from __future__ import annotations

import json
from pathlib import Path

from qconductor.protocol.hardware import load_hardware_config
from qconductor.protocol.hardware.cli import config_check, config_schema, config_upgrade

from .factories import CONFIG_DIR, example


def test_check_valid_config() -> None:
    code, text = config_check(str(CONFIG_DIR / "default.json"), as_json=False)
    assert code == 0
    assert "valid (0 error(s), 0 warning(s))" in text


def test_check_invalid_config_lists_every_error(tmp_path: Path) -> None:
    raw = example("default")
    raw["hardware_description"]["cluster0"]["modules"]["2"]["instrument_type"] = "QRN"
    raw["hardware_options"]["mixer_corrections"] = {"q5:mw-q5.01": {}}
    raw["hardware_options"]["modulation_frequencies"]["q0:mw-q0.01"] = {"if": 1}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(raw))
    code, text = config_check(str(path), as_json=False)
    assert code == 1
    assert "invalid (2 error(s)" in text
    assert "error: [CONFIG_UNKNOWN_MODULE_TYPE] hardware_description.cluster0.modules.2" in text
    code, text = config_check(str(path), as_json=True)
    assert code == 1
    listed = json.loads(text)
    assert [d["code"] for d in listed] == ["CONFIG_UNKNOWN_MODULE_TYPE", "CONFIG_UNKNOWN_KEY"]
    assert listed[1]["path"] == "hardware_options.modulation_frequencies.q0:mw-q0.01.if"


def test_check_keeps_warnings_with_exit_code_zero(tmp_path: Path) -> None:
    raw = example("default")
    raw["hardware_options"]["mixer_corrections"] = {"q5:mw-q5.01": {}}
    path = tmp_path / "warn.json"
    path.write_text(json.dumps(raw))
    code, text = config_check(str(path), as_json=False)
    assert code == 0
    assert "warning: [CONFIG_UNUSED_PORT] hardware_options.mixer_corrections.q5:mw-q5.01" in text


def test_check_of_a_missing_file() -> None:
    code, text = config_check("/nonexistent/hw.json", as_json=True)
    assert code == 1
    assert json.loads(text)[0]["code"] == "CONFIG_PARSE"


def test_schema_is_json() -> None:
    schema = json.loads(config_schema())
    assert schema["title"] == "HardwareConfig"


def test_upgrade_prints_the_new_config_and_the_added_edges(tmp_path: Path) -> None:
    raw = example("seed_v01")
    raw["hardware_description"]["cluster0"]["modules"]["2"] = {"instrument_type": "QRM"}
    raw["connectivity"]["graph"].append(["cluster0.module2.complex_output_0", "q0:res"])
    path = tmp_path / "v01.json"
    path.write_text(json.dumps(raw))
    code, out, err = config_upgrade(str(path))
    assert code == 0
    upgraded = load_hardware_config(out)
    assert upgraded.version == "0.2"
    assert err == "added edge: ['cluster0.module2.complex_input_0', 'q0:res']"
    route = upgraded.route("q0:res")
    assert route is not None
    assert [c.channel for c in route.inputs] == ["complex_input_0"]


def test_upgrade_of_an_invalid_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"version": "0.2"}')
    code, out, err = config_upgrade(str(path))
    assert (code, out) == (1, "")
    assert "CONFIG_MISSING_KEY" in err
