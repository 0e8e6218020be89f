"""The daemon's TOML: the shipped file loads; every bad value is refused with its key path;
``qconductor serve`` with a bad file exits 2 without starting."""

from __future__ import annotations

from pathlib import Path

import pytest

from qconductor.daemon.cli import main
from qconductor.daemon.config import DEFAULT_CONFIG, load_daemon_config
from qconductor.protocol.errors import ErrorCode, QconductorError

BASE = """
[hardware]
config = "hw.json"
[[clusters]]
name = "cluster0"
"""


def test_the_shipped_config_loads_with_loopback_sockets() -> None:
    config = load_daemon_config(DEFAULT_CONFIG)
    assert config.control.bind.startswith("tcp://127.0.0.1:")
    assert config.streams.bind.startswith("tcp://127.0.0.1:")
    assert config.compile.workers >= 1
    assert config.compile.pipeline_depth >= 1
    assert config.queue.strict_priority is False
    assert config.instrument.call_timeout_s > 0


@pytest.mark.parametrize(
    ("extra", "path", "code"),
    [
        ("[compile]\nworkers = -1\n", "compile.workers", ErrorCode.CONFIG_BAD_VALUE),
        ("[compile]\npipeline_depth = 0\n", "compile.pipeline_depth", ErrorCode.CONFIG_BAD_VALUE),
        ("[queue]\nfair = true\n", "queue.fair", ErrorCode.CONFIG_UNKNOWN_KEY),
        (
            "[instrument]\ncall_timeout_s = 0\n",
            "instrument.call_timeout_s",
            ErrorCode.CONFIG_BAD_VALUE,
        ),
        ('[streams]\nbind = "tcp://0.0.0.0:5711"\n', "streams", ErrorCode.CONFIG_BAD_VALUE),
        ('[log]\nformat = "xml"\n', "log.format", ErrorCode.CONFIG_BAD_VALUE),
    ],
)
def test_bad_values_are_refused_with_their_path(
    tmp_path: Path, extra: str, path: str, code: ErrorCode
) -> None:
    file = tmp_path / "q.toml"
    file.write_text(BASE + extra)
    with pytest.raises(QconductorError) as info:
        load_daemon_config(file)
    assert info.value.path == path
    assert info.value.details[0].code == code


def test_faults_only_on_simulated_clusters_and_sockets_apart(tmp_path: Path) -> None:
    file = tmp_path / "q.toml"
    file.write_text(BASE + 'faults = [{ stage = "arm", action = "hang" }]\n')
    with pytest.raises(QconductorError, match="simulated clusters only"):
        load_daemon_config(file)
    same = '[control]\nbind = "tcp://127.0.0.1:6000"\n[streams]\nbind = "tcp://127.0.0.1:6000"\n'
    file.write_text(same + BASE)
    with pytest.raises(QconductorError, match="both bind"):
        load_daemon_config(file)


def test_serve_with_a_bad_config_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "q.toml"
    file.write_text(BASE + "[compile]\nworkers = -1\n")
    assert main(["serve", "--config", str(file)]) == 2
    assert "compile.workers" in capsys.readouterr().err
