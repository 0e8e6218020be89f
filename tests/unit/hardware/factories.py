"""Shared helpers for the hardware config tests: the checked-in example configs as dicts."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from qconductor.protocol.errors import Diagnostic

CONFIG_DIR = Path(__file__).resolve().parents[3] / "config" / "hardware"


def example(name: str) -> dict[str, Any]:
    """A fresh copy of ``config/hardware/<name>.json``."""
    data: dict[str, Any] = json.loads((CONFIG_DIR / f"{name}.json").read_text())
    return copy.deepcopy(data)


def errors(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity == "error"]


def warnings(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity == "warning"]


def graph(config: dict[str, Any]) -> list[Any]:
    edges: list[Any] = config["connectivity"]["graph"]
    return edges


def modules(config: dict[str, Any], cluster: str = "cluster0") -> dict[str, Any]:
    found: dict[str, Any] = config["hardware_description"][cluster]["modules"]
    return found


def options(config: dict[str, Any], name: str) -> dict[str, Any]:
    table: dict[str, Any] = config["hardware_options"].setdefault(name, {})
    return table
