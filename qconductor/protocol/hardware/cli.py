"""Functions behind ``qconductor config check | schema | upgrade`` (the console script wires them).

Each returns the exit code and the text to print, so the commands are testable without a shell.
"""

from __future__ import annotations

import json

from ..errors import Diagnostic, QconductorError
from .loader import check_hardware_config, hardware_config_json_schema
from .upgrade import upgrade_to_v02


def _human(path: str, diagnostics: list[Diagnostic]) -> str:
    errors = [d for d in diagnostics if d.severity == "error"]
    warnings = [d for d in diagnostics if d.severity == "warning"]
    verdict = "invalid" if errors else "valid"
    lines = [f"{path}: {verdict} ({len(errors)} error(s), {len(warnings)} warning(s))"]
    lines += [f"error: {d}" for d in errors]
    lines += [f"warning: {d}" for d in warnings]
    return "\n".join(lines)


def config_check(path: str, *, as_json: bool) -> tuple[int, str]:
    """Check a config file: exit code 0 when valid (warnings allowed), 1 when invalid, and the
    text to print (a readable list, or a JSON list of diagnostics)."""
    diagnostics = check_hardware_config(path)
    code = 1 if any(d.severity == "error" for d in diagnostics) else 0
    if as_json:
        return code, json.dumps([d.model_dump(mode="json") for d in diagnostics], indent=2)
    return code, _human(path, diagnostics)


def config_schema() -> str:
    """The JSON schema of the hardware config, as indented JSON text."""
    return json.dumps(hardware_config_json_schema(), indent=2)


def config_upgrade(path: str) -> tuple[int, str, str]:
    """Upgrade a config file to version 0.2: ``(exit code, stdout text, stderr text)``.

    stdout holds the 0.2 config as JSON; stderr lists the edges made explicit (or the errors
    when the file is not a valid config, with exit code 1).
    """
    try:
        config, added = upgrade_to_v02(path)
    except QconductorError as exc:
        details = exc.details or (exc.as_diagnostic(),)
        return 1, "", "\n".join(f"error: {d}" for d in details)
    notes = [f"added edge: [{node!r}, {port!r}]" for node, port in added]
    if not added:
        notes.append("no implied inputs: no edges added")
    return 0, json.dumps(config.dump(), indent=4), "\n".join(notes)
