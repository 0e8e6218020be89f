"""Upgrading 0.1 to 0.2 makes the implied input edges explicit."""

from __future__ import annotations

from typing import Any

from qconductor.protocol.hardware import load_hardware_config, upgrade_to_v02

from .factories import example


def test_upgrade_adds_the_implied_inputs() -> None:
    raw: dict[str, Any] = {
        "hardware_description": {
            "cluster0": {
                "instrument_type": "Cluster",
                "ref": "internal",
                "modules": {
                    "1": {"instrument_type": "QRM"},
                    "2": {"instrument_type": "QRM_RF"},
                    "3": {"instrument_type": "QCM"},
                },
            }
        },
        "hardware_options": {"output_att": {"q1:res-q1.ro": 10}},
        "connectivity": {
            "graph": [
                ["cluster0.module1.real_output_0", "q0:res"],
                ["cluster0.module2.complex_output_0", ["q1:res", "q2:res"]],
                ["cluster0.module3.complex_output_0", "q0:mw"],
            ]
        },
    }
    old = load_hardware_config(raw)
    new, added = upgrade_to_v02(old)
    assert added == [
        ("cluster0.module1.real_input_0", "q0:res"),
        ("cluster0.module1.real_input_1", "q0:res"),
        ("cluster0.module2.complex_input_0", "q1:res"),
        ("cluster0.module2.complex_input_0", "q2:res"),
    ]
    dumped = new.dump()
    assert dumped["version"] == "0.2"
    assert dumped["connectivity"]["graph"][:3] == raw["connectivity"]["graph"]
    assert dumped["connectivity"]["graph"][3:] == [list(edge) for edge in added]
    assert dumped["hardware_options"] == raw["hardware_options"]
    for port in ("q0:res", "q1:res", "q2:res", "q0:mw"):
        before, after = old.route(port), new.route(port)
        assert before is not None
        assert after is not None
        assert (before.outputs, before.inputs) == (after.outputs, after.inputs)
        assert after.implied_inputs == ()


def test_upgrade_of_the_seed_and_of_a_02_config() -> None:
    new, added = upgrade_to_v02(example("seed_v01"))
    assert added == []
    assert new.version == "0.2"
    assert new.dump() == {**example("seed_v01"), "version": "0.2"}
    same, none = upgrade_to_v02(example("seed_v02"))
    assert none == []
    assert same == load_hardware_config(example("seed_v02"))


def test_upgrade_of_the_reference_transmon_layout() -> None:
    raw = example("transmon_full")
    del raw["version"]
    graph = raw["connectivity"]["graph"]
    raw["connectivity"]["graph"] = [e for e in graph if "complex_input" not in e[0]]
    new, added = upgrade_to_v02(raw)
    assert added == [
        ("cluster0.module2.complex_input_0", "q0:res"),
        ("cluster0.module4.complex_input_0", "q1:res"),
        ("cluster0.module4.complex_input_0", "q2:res"),
    ]
    assert new.warnings == []
