"""Lab TOML loading: the default lab matches the default hardware config; errors carry paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qconductor.adapters.virtual.lab import DEFAULT_LAB, Lab, load_lab
from qconductor.protocol.errors import ErrorCode, QconductorError

HARDWARE = Path(__file__).resolve().parents[3] / "config" / "hardware" / "default.json"


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_LAB.read_text()
    assert old in text, old
    path = tmp_path / "lab.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def _rejected(path: Path) -> QconductorError:
    with pytest.raises(QconductorError) as info:
        load_lab(path)
    return info.value


def test_default_lab_is_on_resonance_with_the_default_hardware_config() -> None:
    lab = load_lab()
    hardware = json.loads(HARDWARE.read_text())
    nco = {
        key.split("-")[0]: entry["interm_freq"]
        for key, entry in hardware["hardware_options"]["modulation_frequencies"].items()
    }
    ports: set[str] = set()
    for _, target in hardware["connectivity"]["graph"]:
        ports.update([target] if isinstance(target, str) else target)
    assert set(lab.qubits) == {"q0", "q1"}
    for qubit in lab.qubits.values():
        assert qubit.drive_port in ports
        assert qubit.frequency == nco[qubit.drive_port]
        assert qubit.t2 <= 2 * qubit.t1
    for resonator in lab.resonators.values():
        assert resonator.port in ports
        assert resonator.frequency == nco[resonator.port]
    assert lab.qubit_on_port("q1:mw") == "q1"
    assert lab.resonator_on_port("q0:res") == "r0"
    assert lab.qubit_on_port("q9:mw") is None
    assert lab.resonator_on_port("q0:mw") is None


def test_unknown_key_reports_its_path(tmp_path: Path) -> None:
    error = _rejected(_variant(tmp_path, "t2 = 20e-6", "t3 = 20e-6"))
    assert error.code is ErrorCode.CONFIG_INVALID
    paths = {d.path: d.code for d in error.details}
    assert paths == {
        "qubits.q0.t3": ErrorCode.CONFIG_UNKNOWN_KEY,
        "qubits.q0.t2": ErrorCode.CONFIG_MISSING_KEY,
    }
    assert "lab.toml" in error.message


def test_bad_value_reports_its_path(tmp_path: Path) -> None:
    error = _rejected(_variant(tmp_path, "linewidth = 2e6", "linewidth = -2e6"))
    assert error.code is ErrorCode.CONFIG_INVALID
    assert error.path == "resonators.r0.linewidth"
    assert error.details[0].code is ErrorCode.CONFIG_BAD_VALUE


def test_t2_beyond_twice_t1_is_refused(tmp_path: Path) -> None:
    error = _rejected(_variant(tmp_path, "t2 = 20e-6", "t2 = 70e-6"))
    assert error.path == "qubits.q0"
    assert "2 * t1" in error.message


def test_cross_references_are_checked(tmp_path: Path) -> None:
    path = _variant(tmp_path, 'qubit = "q1"', 'qubit = "q7"')
    path.write_text(path.read_text().replace('port = "q1:res"', 'port = "q0:res"'))
    error = _rejected(path)
    assert error.code is ErrorCode.CONFIG_INVALID
    assert [d.path for d in error.details] == ["resonators.r1.qubit", "resonators.r1.port"]
    assert "q7" in error.details[0].message


def test_constructing_a_lab_directly_checks_references() -> None:
    raw = load_lab().model_dump()
    raw["qubits"]["q1"]["drive_port"] = "q0:mw"
    with pytest.raises(QconductorError) as info:
        Lab.model_validate(raw)
    assert info.value.path == "qubits.q1.drive_port"


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = = 1\n")
    assert _rejected(bad).code is ErrorCode.CONFIG_PARSE
    assert _rejected(tmp_path / "absent.toml").code is ErrorCode.CONFIG_PARSE
