"""The schedule model: the builder's placement rules, closedness, exact round trips."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from qconductor.protocol.schedule import (
    DragPulse,
    GaussPulse,
    Idle,
    Schedule,
    SquarePulse,
    SSBIntegrationComplex,
)


def _sched() -> Schedule:
    return Schedule(name="s", repetitions=3, clocks={"q0.01": 80e6, "q0.ro": 20e6})


def test_add_places_after_previous_by_default() -> None:
    s = _sched()
    a = s.add(SquarePulse(port="q0:mw", clock="q0.01", amplitude=0.1, duration=20))
    b = s.add(Idle(duration=100), delay=8)
    c = s.add(SquarePulse(port="q0:mw", clock="q0.01", amplitude=0.1, duration=20))
    assert (a.start, a.end) == (0, 20)
    assert (b.start, b.end) == (28, 128)
    assert c.start == 128
    assert s.duration == 148


def test_add_relative_to_start_and_absolute() -> None:
    s = _sched()
    ro = s.add(SquarePulse(port="q0:res", clock="q0.ro", amplitude=0.2, duration=1000), at=500)
    acq = s.add(
        SSBIntegrationComplex(port="q0:res", clock="q0.ro", duration=800),
        ref=ro,
        ref_pt="start",
        delay=100,
    )
    assert acq.start == 600
    with pytest.raises(ValueError, match="either at="):
        s.add(Idle(duration=4), at=0, delay=3)


@pytest.mark.parametrize(
    ("op", "field"),
    [
        (dict(kind="square", port="q0:mw", clock="c", amplitude=0.1, duration=2e-8), "duration"),
        (dict(kind="square", port="q0:mw", clock="c", amplitude=1.5, duration=20), "amplitude"),
        (dict(kind="square", port="q0mw", clock="c", amplitude=0.1, duration=20), "port"),
        (dict(kind="gauss", port="q0:mw", clock="c", amplitude=0.1, duration=0), "duration"),
        (dict(kind="square", port="q0:mw", clock="c", amplitude=0.1, duration=20, x=1), "x"),
        (
            dict(kind="ssb_integration", port="q0:res", clock="c", duration=8, bin_index=-1),
            "bin_index",
        ),
    ],
)
def test_invalid_operations_name_the_field(op: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        Schedule.model_validate({"name": "s", "operations": [{"start": 0, "op": op}]})
    locs = [e["loc"] for e in info.value.errors()]
    assert any(loc[-1] == field for loc in locs), locs


def test_unknown_operation_kind_is_rejected() -> None:
    with pytest.raises(ValidationError, match="kind"):
        Schedule.model_validate(
            {"name": "s", "operations": [{"start": 0, "op": {"kind": "laser", "duration": 4}}]}
        )


def test_clock_needs_finite_frequency() -> None:
    with pytest.raises(ValueError, match="finite"):
        _sched().add_clock("x", float("nan"))


ops = st.one_of(
    st.builds(
        SquarePulse,
        port=st.just("q0:mw"),
        clock=st.just("q0.01"),
        amplitude=st.floats(-1, 1),
        duration=st.integers(1, 10_000),
        phase=st.floats(-720, 720),
    ),
    st.builds(
        DragPulse,
        port=st.just("q0:mw"),
        clock=st.just("q0.01"),
        amplitude=st.floats(-1, 1),
        duration=st.integers(1, 400),
        beta=st.floats(-10, 10),
        sigma=st.none() | st.floats(0.5, 100),
    ),
    st.builds(
        GaussPulse,
        port=st.just("a:b"),
        clock=st.just("q0.01"),
        amplitude=st.floats(-1, 1),
        duration=st.integers(1, 400),
    ),
    st.builds(Idle, duration=st.integers(1, 10**9)),
    st.builds(
        SSBIntegrationComplex,
        port=st.just("q0:res"),
        clock=st.just("q0.ro"),
        duration=st.integers(4, 10_000),
        acq_channel=st.integers(0, 5),
        bin_index=st.integers(0, 1000),
    ),
)


@given(st.lists(st.tuples(st.integers(0, 10**6), ops), max_size=20), st.integers(1, 2**31 - 1))
def test_json_and_msgpack_round_trips_are_lossless(
    items: list[tuple[int, object]], repetitions: int
) -> None:
    s = Schedule(name="rt", repetitions=repetitions, clocks={"q0.01": 5.1e9 + 1 / 3})
    for at, op in items:
        s.add(op, at=at)  # type: ignore[arg-type]
    assert Schedule.model_validate_json(s.model_dump_json()) == s
    packed = msgpack.packb(s.model_dump(mode="json"))
    assert Schedule.model_validate(msgpack.unpackb(packed)) == s
