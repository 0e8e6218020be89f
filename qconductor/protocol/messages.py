"""Control-socket messages: a request envelope, one closed model per verb, and replies.

A request is ``{"v": PROTOCOL_VERSION, "id": <int or str>, "verb": <name>, "args": {...}}``;
its reply echoes ``id`` and is either ``{"ok": True, "result": {...}}`` or
``{"ok": False, "error": {code, message, path, hint, details}}`` (plus ``job_id`` when the
error is about a job: one that failed, was cancelled, or still runs). :func:`parse_request` tells
the failures apart with different codes: not a request at all (MALFORMED_MESSAGE), another
protocol version (PROTOCOL_VERSION), an unknown verb (UNKNOWN_VERB), bad arguments
(INVALID_REQUEST, with the path of the offending field).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from qconductor.protocol.errors import Diagnostic, ErrorCode, QconductorError, format_loc
from qconductor.protocol.operations import OPERATION_KINDS
from qconductor.protocol.schedule import Schedule

PROTOCOL_VERSION = 1
RequestId = int | str
Seconds = Annotated[float, Field(gt=0, le=24 * 3600, description="seconds")]
Priority = Annotated[int, Field(ge=-1000, le=1000, description="higher runs first")]
ClientName = Annotated[str, Field(min_length=1, max_length=128)]


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CompileArgs(_Args):
    verb: Literal["compile"] = "compile"
    schedule: Schedule
    hardware_config: dict[str, Any] | None = Field(
        default=None, description="compile against this config instead of the daemon's"
    )
    include_program: bool = Field(default=False, description="return the compiled job too")


class ArmArgs(_Args):
    verb: Literal["arm"] = "arm"
    job_id: str


class StartArgs(_Args):
    verb: Literal["start"] = "start"
    job_id: str


class RetrieveArgs(_Args):
    verb: Literal["retrieve"] = "retrieve"
    job_id: str
    timeout_s: Seconds = 60.0


class SubmitArgs(_Args):
    """Queue a schedule: the daemon compiles it ahead, arms, starts and retrieves it when the
    job's turn comes. ``wait`` (default) replies with the result when the job ends (or an
    error after ``timeout_s``; the job stays queued); ``wait=False`` replies at once with the
    job id, for ``wait``, ``retrieve``, ``job`` and ``cancel`` later."""

    verb: Literal["submit"] = "submit"
    schedule: Schedule
    hardware_config: dict[str, Any] | None = None
    timeout_s: Seconds = 60.0
    wait: bool = True
    priority: Priority = 0
    ttl_s: Seconds | None = Field(
        default=None, description="drop the job (JOB_EXPIRED) if it has not started arming by then"
    )
    client: ClientName | None = Field(
        default=None, description="fair-share name; default: the connection's ZeroMQ identity"
    )


class StatusArgs(_Args):
    verb: Literal["status"] = "status"


class CancelArgs(_Args):
    verb: Literal["cancel"] = "cancel"
    job_id: str


class JobArgs(_Args):
    """A job as it is now: state, timestamps, queue position or progress, failure."""

    verb: Literal["job"] = "job"
    job_id: str


class WaitArgs(_Args):
    """Wait until the job ends or ``timeout_s`` passes, then describe it (as ``job``); never
    an error for a failed or cancelled job: its state says so."""

    verb: Literal["wait"] = "wait"
    job_id: str
    timeout_s: Seconds = 60.0


class ReplayArgs(_Args):
    """Messages ``from_seq`` .. ``to_seq`` (default: the last) of one data-socket stream, from
    the daemon's replay buffer."""

    verb: Literal["replay"] = "replay"
    stream: Annotated[str, Field(min_length=1, max_length=512)]
    from_seq: Annotated[int, Field(ge=1)]
    to_seq: Annotated[int, Field(ge=1)] | None = None


Request = Annotated[
    CompileArgs
    | ArmArgs
    | StartArgs
    | RetrieveArgs
    | SubmitArgs
    | StatusArgs
    | CancelArgs
    | JobArgs
    | WaitArgs
    | ReplayArgs,
    Field(discriminator="verb"),
]
VERBS = (
    "compile",
    "arm",
    "start",
    "retrieve",
    "submit",
    "status",
    "cancel",
    "job",
    "wait",
    "replay",
)
_REQUEST = TypeAdapter(Request)


def request_message(request_id: RequestId, args: _Args) -> dict[str, Any]:
    """The envelope a client sends for ``args``."""
    body = args.model_dump(mode="json")
    verb = body.pop("verb")
    return {"v": PROTOCOL_VERSION, "id": request_id, "verb": verb, "args": body}


def request_id_of(message: Any) -> RequestId | None:
    """The id of a message, if it has a usable one (so even a refused request's reply is
    matched to it)."""
    if isinstance(message, dict):
        request_id = message.get("id")
        if isinstance(request_id, int | str) and not isinstance(request_id, bool):
            return request_id
    return None


def parse_envelope(message: Any) -> tuple[RequestId, str, dict[str, Any]]:
    """(id, verb, args) of a decoded message, or QconductorError."""
    if not isinstance(message, dict):
        raise QconductorError(
            ErrorCode.MALFORMED_MESSAGE, f"a request is a map, not {type(message).__name__}"
        )
    request_id = message.get("id")
    if not isinstance(request_id, int | str) or isinstance(request_id, bool):
        raise QconductorError(ErrorCode.MALFORMED_MESSAGE, "the request has no id", "id")
    version = message.get("v")
    if version != PROTOCOL_VERSION:
        raise QconductorError(
            ErrorCode.PROTOCOL_VERSION,
            f"the client speaks protocol version {version!r}; this daemon speaks "
            f"{PROTOCOL_VERSION}",
            "v",
            hint="upgrade the client or the daemon so that both are of one release",
        )
    verb = message.get("verb")
    if not isinstance(verb, str):
        raise QconductorError(ErrorCode.MALFORMED_MESSAGE, "the request names no verb", "verb")
    args = message.get("args", {})
    if not isinstance(args, dict):
        raise QconductorError(ErrorCode.MALFORMED_MESSAGE, "args must be a map", "args")
    unknown = set(message) - {"v", "id", "verb", "args"}
    if unknown:
        raise QconductorError(
            ErrorCode.MALFORMED_MESSAGE,
            f"unknown envelope field(s): {', '.join(sorted(map(str, unknown)))}",
            sorted(map(str, unknown))[0],
        )
    return request_id, verb, args


def parse_request(message: Any) -> tuple[RequestId, Request]:
    request_id, verb, args = parse_envelope(message)
    if verb not in VERBS:
        raise QconductorError(
            ErrorCode.UNKNOWN_VERB,
            f"unknown verb {verb!r}",
            "verb",
            hint=f"verbs: {', '.join(VERBS)}",
        )
    try:
        return request_id, _REQUEST.validate_python({**args, "verb": verb})
    except ValidationError as exc:
        raise invalid_request(exc, prefix="args") from None


def invalid_request(exc: ValidationError, *, prefix: str) -> QconductorError:
    details = [
        Diagnostic(
            code=ErrorCode.INVALID_REQUEST,
            message=err["msg"],
            path=format_loc([prefix, *_clean_loc(err["loc"])]),
        )
        for err in exc.errors(include_url=False)
    ]
    return QconductorError.from_diagnostics(ErrorCode.INVALID_REQUEST, "request", details)


def _clean_loc(loc: tuple[int | str, ...]) -> list[int | str]:
    """Drop the discriminator tags pydantic inserts (``op.square.duration`` -> ``op.duration``)."""
    tags = {*OPERATION_KINDS, *VERBS}
    out: list[int | str] = []
    for part in loc:
        if isinstance(part, str) and part in tags and out and out[-1] in ("op",):
            continue
        if isinstance(part, str) and part in VERBS and not out:
            continue
        out.append(part)
    return out


def ok_reply(request_id: RequestId | None, result: dict[str, Any]) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "id": request_id, "ok": True, "result": result}


def error_reply(request_id: RequestId | None, error: QconductorError) -> dict[str, Any]:
    return {
        "v": PROTOCOL_VERSION,
        "id": request_id,
        "ok": False,
        "error": error_body(error),
    }


def error_body(error: QconductorError) -> dict[str, Any]:
    body = {
        "code": str(error.code),
        "message": error.message,
        "path": error.path,
        "hint": error.hint,
        "details": [d.model_dump(mode="json") for d in error.details],
    }
    if error.job_id is not None:
        body["job_id"] = error.job_id
    return body


def error_from_body(body: Any) -> QconductorError:
    """The client side of :func:`error_body`; tolerant of what an older daemon sends."""
    if not isinstance(body, dict):
        return QconductorError(ErrorCode.MALFORMED_MESSAGE, f"bad error reply: {body!r}")
    try:
        code = ErrorCode(str(body.get("code")))
    except ValueError:
        code = ErrorCode.INTERNAL
    details = []
    for d in body.get("details") or []:
        try:
            details.append(Diagnostic.model_validate(d))
        except ValidationError:
            continue
    job_id = body.get("job_id")
    return QconductorError(
        code,
        str(body.get("message", "")),
        str(body.get("path") or ""),
        hint=body.get("hint"),
        details=details,
        job_id=job_id if isinstance(job_id, str) else None,
    )
