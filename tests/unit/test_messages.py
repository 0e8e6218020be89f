"""Request parsing: each kind of failure has its own code and the offending path."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.messages import (
    PROTOCOL_VERSION,
    ArmArgs,
    SubmitArgs,
    error_body,
    error_from_body,
    parse_request,
    request_message,
)
from qconductor.protocol.schedule import Schedule, SquarePulse


def _schedule() -> Schedule:
    s = Schedule(name="s", clocks={"c": 1e6})
    s.add(SquarePulse(port="q0:mw", clock="c", amplitude=0.5, duration=20))
    return s


def test_request_round_trip() -> None:
    msg = request_message(7, SubmitArgs(schedule=_schedule(), timeout_s=5))
    request_id, request = parse_request(msg)
    assert request_id == 7
    assert isinstance(request, SubmitArgs)
    assert request.schedule == _schedule()


@pytest.mark.parametrize(
    ("message", "code", "path"),
    [
        ([1, 2], ErrorCode.MALFORMED_MESSAGE, ""),
        ({"v": PROTOCOL_VERSION, "verb": "status"}, ErrorCode.MALFORMED_MESSAGE, "id"),
        ({"v": 99, "id": 1, "verb": "status"}, ErrorCode.PROTOCOL_VERSION, "v"),
        ({"v": PROTOCOL_VERSION, "id": 1}, ErrorCode.MALFORMED_MESSAGE, "verb"),
        ({"v": PROTOCOL_VERSION, "id": 1, "verb": "launch"}, ErrorCode.UNKNOWN_VERB, "verb"),
        (
            {"v": PROTOCOL_VERSION, "id": 1, "verb": "arm", "args": []},
            ErrorCode.MALFORMED_MESSAGE,
            "args",
        ),
        (
            {"v": PROTOCOL_VERSION, "id": 1, "verb": "arm", "args": {}},
            ErrorCode.INVALID_REQUEST,
            "args.job_id",
        ),
        (
            {"v": PROTOCOL_VERSION, "id": 1, "verb": "arm", "args": {"job_id": "x", "y": 1}},
            ErrorCode.INVALID_REQUEST,
            "args.y",
        ),
        (
            {"v": PROTOCOL_VERSION, "id": 1, "verb": "status", "extra": 1},
            ErrorCode.MALFORMED_MESSAGE,
            "extra",
        ),
    ],
)
def test_bad_requests(message: Any, code: ErrorCode, path: str) -> None:
    with pytest.raises(QconductorError) as info:
        parse_request(message)
    assert info.value.code == code
    assert info.value.path == path


def test_schedule_errors_point_into_the_schedule() -> None:
    msg = request_message(1, SubmitArgs(schedule=_schedule()))
    msg["args"]["schedule"]["operations"][0]["op"]["duration"] = -5
    with pytest.raises(QconductorError) as info:
        parse_request(msg)
    assert info.value.code == ErrorCode.INVALID_REQUEST
    assert info.value.path == "args.schedule.operations[0].op.duration"


def test_error_body_round_trip() -> None:
    error = QconductorError(ErrorCode.PORT_NOT_CONNECTED, "no", "args.schedule.x", hint="h")
    back = error_from_body(error_body(error))
    assert (back.code, back.message, back.path, back.hint) == (
        error.code,
        error.message,
        error.path,
        error.hint,
    )
    assert error_from_body({"code": "FUTURE_CODE"}).code == ErrorCode.INTERNAL
    assert back.job_id is None
    assert "job_id" not in error_body(error)


def test_an_error_about_a_job_names_it_on_the_wire_and_across_processes() -> None:
    error = QconductorError(ErrorCode.INSTRUMENT_ERROR, "m", "clusters[c0]", job_id="6b-7")
    assert error_from_body(error_body(error)).job_id == "6b-7"
    assert pickle.loads(pickle.dumps(error)).job_id == "6b-7"
    assert error_from_body({"code": "JOB_FAILED", "job_id": 7}).job_id is None  # not an id


def test_arm_args_are_closed() -> None:
    with pytest.raises(ValueError, match="extra"):
        ArmArgs.model_validate({"job_id": "x", "force": True})
