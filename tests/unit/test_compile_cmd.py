"""``qconductor compile``: files written, the summary, diagnostics and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qconductor.adapters.qblox.compiler import compile_schedule
from qconductor.daemon.cli import main
from qconductor.daemon.compile_cmd import compile_command, render_json
from qconductor.protocol.compiled import CompiledJob
from qconductor.protocol.hardware import load_hardware_config
from qconductor.protocol.schedule import Schedule, SquarePulse, SSBIntegrationComplex

DEFAULT = Path(__file__).resolve().parents[2] / "config" / "hardware" / "default.json"
CLOCKS = {"q0.01": 80e6, "q1.01": -60e6, "q0.ro": 150e6, "q1.ro": 250e6}


def readout_schedule(name: str = "readout") -> Schedule:
    s = Schedule(name=name, repetitions=10, clocks=dict(CLOCKS))
    s.add(SquarePulse(port="q0:mw", clock="q0.01", amplitude=0.5, duration=20))
    pulse = s.add(SquarePulse(port="q0:res", clock="q0.ro", amplitude=0.2, duration=500), delay=4)
    s.add(
        SSBIntegrationComplex(port="q0:res", clock="q0.ro", duration=400, bin_index=2),
        ref=pulse,
        ref_pt="start",
        delay=100,
    )
    return s


def write(path: Path, content: Schedule | dict[str, Any] | str) -> str:
    if isinstance(content, Schedule):
        content = content.model_dump_json()
    elif isinstance(content, dict):
        content = json.dumps(content)
    path.write_text(content)
    return str(path)


def test_compile_writes_job_sequencer_files_and_a_table(tmp_path: Path) -> None:
    schedule = readout_schedule()
    out = tmp_path / "out"
    code, stdout, stderr = compile_command(
        write(tmp_path / "s.json", schedule), str(DEFAULT), str(out)
    )
    assert (code, stderr) == (0, "")

    job = CompiledJob.model_validate_json((out / "compiled.json").read_text())
    assert job == compile_schedule(schedule, load_hardware_config(DEFAULT))
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == [
        "cluster0/module1/sequencer0.json",
        "cluster0/module1/sequencer0.q1asm",
        "cluster0/module2/sequencer0.json",
        "cluster0/module2/sequencer0.q1asm",
        "compiled.json",
    ]
    (cluster,) = job.clusters
    readout = next(m for m in cluster.modules if m.slot == 2).sequencers[0]
    assert readout.sequence is not None
    seq_dir = out / "cluster0" / "module2"
    assert (seq_dir / "sequencer0.q1asm").read_text() == readout.sequence.program
    assert json.loads((seq_dir / "sequencer0.json").read_text()) == readout.sequence.to_driver()

    lines = stdout.splitlines()
    header = lines[0].split()
    assert header[:3] == ["sequencer", "port-clock", "module"]
    row = next(line for line in lines if line.startswith("cluster0.module2.sequencer0"))
    stats = readout.stats
    assert stats is not None
    assert row.split() == [
        "cluster0.module2.sequencer0",
        "q0:res-q0.ro",
        "QRM",
        str(stats.instructions),
        "/",
        "12288",
        str(stats.waveform_samples),
        "/",
        "16384",
        "3",  # bins 0..2
        "150",  # NCO MHz
    ]
    assert any(line.startswith("cluster0.module1.sequencer0  q0:mw-q0.01") for line in lines)
    total = next(line for line in lines if line.startswith("total")).split()
    assert int(total[1]) == sum(s.stats.instructions for s in _used(job))
    assert "10 x" in stdout
    assert "compiled in" in stdout
    assert f"wrote 5 files to {out}" in stdout


def _used(job: CompiledJob) -> list[Any]:
    return [s for c in job.clusters for m in c.modules for s in m.sequencers if s.stats]


def test_default_out_dir_is_compiled_slash_schedule_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path / "s.json", readout_schedule(name="rabi point/2"))
    code, stdout, _ = compile_command(path, str(DEFAULT), None)
    assert code == 0
    assert (tmp_path / "compiled" / "rabi_point_2" / "compiled.json").is_file()
    assert "wrote 5 files to compiled/rabi_point_2" in stdout


def test_recompiling_into_a_directory_removes_stale_sequencer_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert (
        compile_command(write(tmp_path / "a.json", readout_schedule()), str(DEFAULT), str(out))[0]
        == 0
    )
    drive_only = Schedule(name="drive", clocks=dict(CLOCKS))
    drive_only.add(SquarePulse(port="q0:mw", clock="q0.01", amplitude=0.5, duration=20))
    (out / "notes.txt").write_text("mine")
    code, stdout, _ = compile_command(
        write(tmp_path / "b.json", drive_only), str(DEFAULT), str(out)
    )
    assert code == 0
    assert not (out / "cluster0" / "module2").exists()
    assert (out / "cluster0" / "module1" / "sequencer0.q1asm").is_file()
    assert (out / "notes.txt").read_text() == "mine"
    assert "removed 2 stale sequencer files" in stdout


def test_compile_errors_exit_1_with_every_diagnostic(tmp_path: Path) -> None:
    s = Schedule(name="bad", clocks={"q0.01": 80e6})
    s.add(SquarePulse(port="q0:mw", clock="q0.02", amplitude=0.5, duration=20))
    s.add(SquarePulse(port="q9:mw", clock="q0.01", amplitude=0.5, duration=20))
    out = tmp_path / "out"
    code, stdout, stderr = compile_command(write(tmp_path / "s.json", s), str(DEFAULT), str(out))
    assert (code, stdout) == (1, "")
    lines = stderr.splitlines()
    assert lines[0] == "qconductor compile: schedule 'bad' rejected (2 errors):"
    assert lines[1].startswith("[CLOCK_UNDEFINED] operations[0].op.clock: ")
    assert lines[1].endswith(")")  # the hint, e.g. "(did you mean 'q0.01'?)"
    assert lines[2].startswith("[PORT_NOT_CONNECTED] operations[1].op.port: ")
    assert len(lines) == 3
    assert not out.exists()


def test_schedule_model_errors_exit_1_with_paths(tmp_path: Path) -> None:
    raw = readout_schedule().model_dump(mode="json")
    raw["operations"][0]["op"]["duration"] = -5
    raw["operations"][1]["op"]["colour"] = "blue"
    raw["repetitions"] = 0
    code, _, stderr = compile_command(write(tmp_path / "s.json", raw), str(DEFAULT), None)
    assert code == 1
    paths = [line.split(": ")[0] for line in stderr.splitlines()[1:]]
    assert paths == [
        "[SCHEDULE_INVALID] repetitions",
        "[SCHEDULE_INVALID] operations[0].op.duration",
        "[SCHEDULE_INVALID] operations[1].op.colour",
    ]


def test_invalid_hardware_config_exits_1(tmp_path: Path) -> None:
    config = json.loads(DEFAULT.read_text())
    config["hardware_description"]["cluster0"]["modules"]["2"]["instrument_type"] = "QXM"
    code, _, stderr = compile_command(
        write(tmp_path / "s.json", readout_schedule()),
        write(tmp_path / "hw.json", config),
        str(tmp_path / "out"),
    )
    assert code == 1
    assert stderr.splitlines()[0].startswith("qconductor compile: hardware config ")
    assert "hardware_description.cluster0.modules" in stderr


@pytest.mark.parametrize(
    ("schedule", "hardware", "message"),
    [
        (None, "default", "cannot read schedule"),
        ("{not json", "default", "is not valid JSON"),
        ("[1, 2]", "default", "holds a JSON list, not an object"),
        ("valid", None, "cannot read hardware config"),
        ("valid", "{'a': 1}", "is not valid JSON"),
    ],
)
def test_unreadable_files_exit_2(
    tmp_path: Path, schedule: str | None, hardware: str | None, message: str
) -> None:
    s_path = tmp_path / "s.json"
    h_path = tmp_path / "hw.json"
    if schedule is not None:
        write(s_path, readout_schedule() if schedule == "valid" else schedule)
    if hardware == "default":
        h_path = DEFAULT
    elif hardware is not None:
        write(h_path, hardware)
    code, stdout, stderr = compile_command(str(s_path), str(h_path), str(tmp_path / "out"))
    assert (code, stdout) == (2, "")
    assert stderr.startswith("qconductor compile: ")
    assert message in stderr
    assert not (tmp_path / "out").exists()


def test_cli_compile_subcommand(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "s.json", readout_schedule())
    assert main(["compile", path, "--hardware", str(DEFAULT), "--out", str(tmp_path / "o")]) == 0
    assert "cluster0.module1.sequencer0" in capsys.readouterr().out
    assert (tmp_path / "o" / "compiled.json").is_file()

    assert main(["compile", str(tmp_path / "missing.json"), "--hardware", str(DEFAULT)]) == 2
    assert "cannot read schedule" in capsys.readouterr().err

    assert main(["compile", path]) == 2
    assert "--hardware" in capsys.readouterr().err


def test_cli_print_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compile", "--print-schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "CompiledJob"
    assert "clusters" in schema["properties"]
    assert main(["compile", "--print-schema", "s.json"]) == 2


def test_render_json_is_stable_sorted_and_packed() -> None:
    value = {"b": [0.1 * k for k in range(200)], "a": {"z": "x\ny", "y": [True, None]}, "c": []}
    text = render_json(value)
    assert json.loads(text) == value
    assert text.index('"a"') < text.index('"b"') < text.index('"c"')
    assert max(len(line) for line in text.splitlines()) <= 100
    assert len(text.splitlines()) < 60  # 200 numbers packed, not one per line
    with pytest.raises(ValueError, match="Out of range float"):
        render_json({"x": float("nan")})
