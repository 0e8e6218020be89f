"""Golden tests: each corpus schedule compiles to exactly its checked-in expected file.

A mismatch shows the first differing sequencer program as a unified diff (or, when every
program matches, the diff of the whole file). If the change is intended, run ``make goldens``
and review the regenerated files in the diff.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

import pytest

from qconductor.adapters.qblox.q1asm import (
    MAX_INSTRUCTIONS_QCM,
    MAX_INSTRUCTIONS_QRM,
    validate_program,
)
from qconductor.daemon.compile_cmd import compiled_job_schema_text
from qconductor.protocol.compiled import CompiledJob
from tests.golden.corpus import CORPUS
from tests.golden.regenerate import (
    EXPECTED_DIR,
    REPO,
    SCHEMA_PATH,
    compile_entry,
    expected_path,
    golden_text,
)

HOW_TO_FIX = (
    "If the change is intended, run `make goldens` and review the diff of "
    "tests/golden/expected/ (and docs/) before committing."
)
MAX_DIFF_LINES = 80


@pytest.fixture(scope="module", params=sorted(CORPUS))
def compiled(request: pytest.FixtureRequest) -> tuple[str, CompiledJob]:
    name: str = request.param
    return name, compile_entry(name)


def test_matches_expected(compiled: tuple[str, CompiledJob]) -> None:
    name, job = compiled
    path = expected_path(name)
    if not path.exists():
        pytest.fail(f"{path.relative_to(REPO)} does not exist. {HOW_TO_FIX}", pytrace=False)
    expected = path.read_text(encoding="utf-8")
    actual = golden_text(job)
    if actual != expected:
        pytest.fail(
            f"{name}: compiled output differs from {path.name}\n{_explain(expected, actual)}",
            pytrace=False,
        )


def test_programs_are_valid_q1asm(compiled: tuple[str, CompiledJob]) -> None:
    _, job = compiled
    assert job.used_sequencers(), "a golden schedule should use at least one sequencer"
    for cluster in job.clusters:
        for module in cluster.modules:
            limit = (
                MAX_INSTRUCTIONS_QRM
                if module.module_type.startswith("QRM")
                else MAX_INSTRUCTIONS_QCM
            )
            for seq in module.sequencers:
                if seq.sequence is None:
                    continue
                found = validate_program(seq.sequence.program, max_instructions=limit)
                where = f"{cluster.name}.module{module.slot}.sequencer{seq.index}"
                assert found == [], f"{where}:\n" + "\n".join(map(str, found))


def test_schedule_is_named_after_its_entry(compiled: tuple[str, CompiledJob]) -> None:
    name, job = compiled
    assert job.schedule_name == name


def test_every_expected_file_has_a_corpus_entry_and_vice_versa() -> None:
    on_disk = {p.stem for p in EXPECTED_DIR.glob("*.json")}
    missing = sorted(set(CORPUS) - on_disk)
    orphans = sorted(on_disk - set(CORPUS))
    assert not missing, f"corpus entries without an expected file: {missing}. {HOW_TO_FIX}"
    assert not orphans, f"expected files without a corpus entry: {orphans}. {HOW_TO_FIX}"


def test_compiled_job_schema_is_up_to_date() -> None:
    actual = compiled_job_schema_text()
    expected = SCHEMA_PATH.read_text(encoding="utf-8") if SCHEMA_PATH.exists() else ""
    if actual != expected:
        pytest.fail(
            f"{SCHEMA_PATH.relative_to(REPO)} is out of date with CompiledJob\n"
            f"{_diff(expected, actual, 'checked in', 'CompiledJob.model_json_schema()')}\n"
            f"{HOW_TO_FIX}",
            pytrace=False,
        )


# --- explaining a mismatch ----------------------------------------------------------------------
def _explain(expected: str, actual: str) -> str:
    try:
        old = _programs(json.loads(expected))
    except (ValueError, KeyError, TypeError):
        old = {}
    new = _programs(json.loads(actual))
    for where in [*new, *(k for k in old if k not in new)]:
        if old.get(where) != new.get(where):
            diff = _lines_diff(
                old.get(where, []), new.get(where, []), f"expected {where}", f"compiled {where}"
            )
            return f"first differing program: {where}\n{diff}\n{HOW_TO_FIX}"
    rest = _diff(expected, actual, "expected", "compiled")
    return f"the programs match; the rest differs:\n{rest}\n{HOW_TO_FIX}"


def _programs(golden: dict[str, Any]) -> dict[str, list[str]]:
    """``cluster.moduleN.sequencerM`` -> program lines, in job order."""
    out: dict[str, list[str]] = {}
    for cluster in golden["clusters"]:
        for module in cluster["modules"]:
            for seq in module["sequencers"]:
                if seq["sequence"] is not None:
                    where = f"{cluster['name']}.module{module['slot']}.sequencer{seq['index']}"
                    out[where] = list(seq["sequence"]["program"])
    return out


def _diff(expected: str, actual: str, old_name: str, new_name: str) -> str:
    return _lines_diff(expected.splitlines(), actual.splitlines(), old_name, new_name)


def _lines_diff(old: list[str], new: list[str], old_name: str, new_name: str) -> str:
    lines = list(difflib.unified_diff(old, new, old_name, new_name, lineterm=""))
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... ({len(lines) - MAX_DIFF_LINES} more diff lines)"]
    return "\n".join(lines)
