"""External local oscillators: one adapter per LO instrument, and a simulated LO.

The compiler decides what each LO must run at (:class:`~qconductor.protocol.lo.LoSetting`); before
arming a job the daemon hands each setting to the adapter of that instrument, which sets the
parameters whose values changed since its last ``apply``. The instrument is a qcodes instrument:
a driver named in the daemon config by its class path (``LoConfig.driver``, constructed with the
qcodes name and ``LoConfig.kwargs``), or :class:`SimulatedLocalOscillator` (``"simulated"``, the
embedded default and the tests' fake). As for the clusters, every instrument call runs on the
adapter's own :class:`~qconductor.adapters.qblox.driver_thread.DriverThread` with a deadline, and
driver exceptions become ``QconductorError`` here, with the original chained.

The "only what changed" cache holds the values last set per parameter name; it is emptied on any
failure or cancellation during ``apply``, on a timeout, on close and on (re)open, so the next
``apply`` sets everything again. qcodes instrument names are global: each ``open`` registers a
fresh unique qcodes name (``qcodes_name``); ``name`` stays the LO's name in the lab.
"""

from __future__ import annotations

import importlib
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Final, TypeVar

import anyio
import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator
from qcodes.instrument import Instrument, InstrumentBase
from qcodes.parameters import ParameterBase
from qcodes.validators import Bool, Numbers

from qconductor.adapters.qblox.driver_thread import DriverThread, describe_exception
from qconductor.protocol.errors import ErrorCode, QconductorError
from qconductor.protocol.lo import LoSetting

__all__ = ["SIMULATED", "LoConfig", "LocalOscillatorAdapter", "SimulatedLocalOscillator"]

T = TypeVar("T")
Value = float | bool

SIMULATED: Final = "simulated"
HEALTH_TIMEOUT_S: Final = 2.0
HOLD_LIMIT_S: Final = 60.0
_DRIVER_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


class LoConfig(BaseModel):
    """How the daemon reaches one LO instrument (one entry of the daemon config)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    name: str
    """The instrument's name in the lab: the hardware config's ``instrument_name`` of the LO
    (its ``hardware_description`` key when it gives none)."""
    driver: str = SIMULATED
    """``"simulated"``, or the import path of a qcodes instrument class
    (``"qcodes.instrument_drivers.rohde_schwarz.RohdeSchwarzSGS100A"``)."""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    """Constructor keyword arguments besides the name (``address = "TCPIP0::...::INSTR"``; for
    the simulated LO its limits, e.g. ``max_frequency``)."""
    status_param: str = "status"
    """The parameter that switches the output on and off (``LoSetting.output_enabled``); empty:
    the instrument has none, and the output is left alone."""
    timeout_s: Annotated[float, Field(gt=0)] = 10.0
    """Deadline of each instrument call, in seconds."""
    open_timeout_s: Annotated[float, Field(gt=0)] = 30.0
    """Deadline of connecting (importing the driver, creating the instrument), in seconds."""

    @field_validator("driver")
    @classmethod
    def _driver_path(cls, value: str) -> str:
        if value != SIMULATED and not _DRIVER_PATH.match(value):
            raise ValueError(
                f"driver must be 'simulated' or a class path like 'package.module.Class', "
                f"got {value!r}"
            )
        return value

    @field_validator("kwargs")
    @classmethod
    def _no_name(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "name" in value:
            raise ValueError("kwargs must not give 'name': the adapter names the instrument")
        return value


class SimulatedLocalOscillator(Instrument):
    """An in-process microwave source with the parameters and validators of a real one.

    ``frequency`` (Hz), ``power`` (dBm) and ``status`` (output on/off) refuse what a source
    refuses (by default 2–18 GHz and -120–25 dBm). Every value that reaches the "instrument" is
    recorded in ``set_log`` as ``(parameter, value)``. ``hold``: while it is an Event not yet
    set, every set and get waits for it (a hung instrument, for tests).
    """

    def __init__(
        self,
        name: str,
        *,
        min_frequency: float = 2e9,
        max_frequency: float = 18e9,
        min_power: float = -120.0,
        max_power: float = 25.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        self.set_log: list[tuple[str, Value]] = []
        self.hold: threading.Event | None = None
        self._state: dict[str, Value] = {
            "frequency": min_frequency,
            "power": min_power,
            "status": False,
        }
        self.frequency = self.add_parameter(
            "frequency",
            label="Frequency",
            unit="Hz",
            get_cmd=lambda: self._get("frequency"),
            set_cmd=lambda value: self._set("frequency", float(value)),
            vals=Numbers(min_frequency, max_frequency),
        )
        self.power = self.add_parameter(
            "power",
            label="Power",
            unit="dBm",
            get_cmd=lambda: self._get("power"),
            set_cmd=lambda value: self._set("power", float(value)),
            vals=Numbers(min_power, max_power),
        )
        self.status = self.add_parameter(
            "status",
            label="RF output",
            get_cmd=lambda: self._get("status"),
            set_cmd=lambda value: self._set("status", bool(value)),
            vals=Bool(),
        )

    def get_idn(self) -> dict[str, str | None]:
        return {
            "vendor": "qconductor",
            "model": type(self).__name__,
            "serial": self.name,
            "firmware": None,
        }

    def _wait(self) -> None:
        hold = self.hold
        if hold is not None:
            hold.wait(HOLD_LIMIT_S)

    def _get(self, name: str) -> Value:
        self._wait()
        return self._state[name]

    def _set(self, name: str, value: Value) -> None:
        self._wait()
        self._state[name] = value
        self.set_log.append((name, value))


def _qcodes_name(name: str) -> str:
    base = re.sub(r"\W", "_", name)
    return f"{base if base[:1].isalpha() else 'lo_' + base}_{uuid.uuid4().hex[:8]}"


def _same(old: Value | None, new: Value) -> bool:
    return type(old) is type(new) and old == new


def _find_parameter(instrument: InstrumentBase, dotted: str) -> ParameterBase | None:
    """``"frequency"`` or, through submodules, ``"ch1.frequency"``; None if there is none."""
    *modules, last = dotted.split(".")
    target = instrument
    for part in modules:
        sub = target.submodules.get(part)
        if not isinstance(sub, InstrumentBase):
            return None
        target = sub
    return target.parameters.get(last)


class _Change:
    """One parameter to set, with the words and the path errors need."""

    def __init__(self, param: str, value: Value, field: str, param_path: str) -> None:
        self.param, self.value = param, value
        self.field = field  # the LoSetting field holding the value
        self.param_path = param_path  # the config entry naming the parameter


class _LoSession:
    """One open connection: a driver thread and the instrument created on it. The methods that
    touch ``instrument`` run ON the thread; closing is bound to the session."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.thread = DriverThread(name, kind="local oscillator")
        self.instrument: Any = None  # set and used on the driver thread only

    def create(self, config: LoConfig, qcodes_name: str, check: Sequence[str]) -> None:
        cls = _driver_class(config)
        self.instrument = cls(qcodes_name, **config.kwargs)
        for param in check:
            if _find_parameter(self.instrument, param) is None:
                raise QconductorError(
                    ErrorCode.INSTRUMENT_ERROR,
                    f"local oscillator {self.name}: the {cls.__name__} driver has no "
                    f"parameter {param!r}",
                    f"local_oscillators[{self.name}].status_param",
                    hint="name its output on/off parameter, or leave status_param empty",
                )

    def close_instrument(self) -> None:
        instrument, self.instrument = self.instrument, None
        if instrument is not None:
            instrument.close()

    def set_all(self, setting: LoSetting, changes: Sequence[_Change]) -> None:
        where = f"local oscillator {setting.name}"
        if setting.instrument_name != setting.name:
            where += f" (instrument {setting.instrument_name})"
        for change in changes:
            param = _find_parameter(self.instrument, change.param)
            if param is None:
                raise QconductorError(
                    ErrorCode.INSTRUMENT_ERROR,
                    f"{where}: the instrument has no parameter {change.param!r}",
                    change.param_path,
                    hint="the parameter names come from the hardware config "
                    "(frequency_param, power_param) and the daemon config (status_param)",
                )
            try:
                param.set(change.value)
            except Exception as exc:
                raise QconductorError(
                    ErrorCode.INSTRUMENT_ERROR,
                    f"{where}: cannot set {change.param} = {change.value!r}: "
                    f"{describe_exception(exc)}",
                    f"local_oscillators[{setting.name}].{change.field}",
                ) from exc


def _driver_class(config: LoConfig) -> type[InstrumentBase]:
    if config.driver == SIMULATED:
        return SimulatedLocalOscillator
    module_name, _, class_name = config.driver.rpartition(".")
    path = f"local_oscillators[{config.name}].driver"
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise QconductorError(
            ErrorCode.CONFIG_BAD_VALUE,
            f"local oscillator {config.name}: cannot import the driver {config.driver}: "
            f"{describe_exception(exc)}",
            path,
        ) from exc
    if not (isinstance(found, type) and issubclass(found, InstrumentBase)):
        raise QconductorError(
            ErrorCode.CONFIG_BAD_VALUE,
            f"local oscillator {config.name}: {config.driver} is not a qcodes instrument class",
            path,
        )
    return found


class LocalOscillatorAdapter:
    """Owns one LO instrument: sets what a job's :class:`LoSetting` asks, only what changed."""

    def __init__(self, config: LoConfig) -> None:
        self.config = config
        self.name = config.name
        self.qcodes_name = ""
        self._session: _LoSession | None = None
        self._cache: dict[str, Value] = {}
        self._log = structlog.get_logger(__name__).bind(lo=config.name)

    def matches(self, setting: LoSetting) -> bool:
        """True when ``setting`` is for this instrument (by ``instrument_name``, or by the LO's
        ``hardware_description`` key)."""
        return self.name in (setting.instrument_name, setting.name)

    # --- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        """Import the driver and create the instrument on a fresh thread; idempotent."""
        if self._session is not None:
            return
        self._cache = {}
        self.qcodes_name = _qcodes_name(self.name)
        session = self._session = _LoSession(self.name)
        check = [self.config.status_param] if self.config.status_param else []
        try:
            await self._call(
                lambda s: s.create(self.config, self.qcodes_name, check),
                what=f"create {self.config.driver} instrument",
                timeout_s=self.config.open_timeout_s,
            )
        except BaseException:
            self._session = None
            wait_s = 0.0 if session.thread.busy_with is not None else self.config.timeout_s
            with anyio.CancelScope(shield=True):
                await session.thread.aclose(session.close_instrument, timeout_s=wait_s)
            raise
        self._log.info("local oscillator open", qcodes_name=self.qcodes_name)

    async def close(self) -> None:
        """Close the instrument on its thread and end the thread; the output is left as it is.
        Idempotent; driver failures are logged, not raised (a hung driver is abandoned)."""
        session = self._session
        if session is None:
            return
        with anyio.CancelScope(shield=True):
            busy = session.thread.busy_with is not None
            self._session, self._cache = None, {}
            wait_s = 0.0 if busy else self.config.timeout_s
            if not await session.thread.aclose(session.close_instrument, timeout_s=wait_s):
                self._log.error("instrument not closed yet; it closes when the driver returns")
        self._log.info("local oscillator closed")

    # --- settings ------------------------------------------------------------------------------

    async def apply(self, setting: LoSetting) -> None:
        """Set frequency, power and output as ``setting`` asks; values unchanged since the last
        ``apply`` are not sent. The output is switched off before, and on after, the rest."""
        if not self.matches(setting):
            raise QconductorError(
                ErrorCode.INSTRUMENT_MISMATCH,
                f"local oscillator {setting.name} (instrument {setting.instrument_name}) was "
                f"handed to the adapter of {self.name}",
                f"local_oscillators[{setting.name}]",
            )
        self._open_session()
        changes = [c for c in self._wanted(setting) if not _same(self._cache.get(c.param), c.value)]
        if not changes:
            return
        try:
            await self._call(
                lambda s: s.set_all(setting, changes),
                what=f"set {', '.join(c.param for c in changes)}",
                path=f"local_oscillators[{setting.name}]",
            )
        except BaseException:
            self._cache.clear()  # what reached the instrument is unknown
            raise
        self._cache.update({c.param: c.value for c in changes})
        self._log.debug("applied", **{c.param: c.value for c in changes})

    def _wanted(self, setting: LoSetting) -> list[_Change]:
        described = f"hardware_description.{setting.name}"
        wanted = []
        if setting.frequency is not None:
            param_path = f"{described}.frequency_param"
            wanted.append(
                _Change(setting.frequency_param, setting.frequency, "frequency", param_path)
            )
        if setting.power is not None and setting.power_param is not None:
            wanted.append(
                _Change(setting.power_param, setting.power, "power", f"{described}.power_param")
            )
        status = self.config.status_param
        if status:
            path = f"local_oscillators[{self.name}].status_param"
            change = _Change(status, setting.output_enabled, "output_enabled", path)
            wanted.insert(len(wanted) if setting.output_enabled else 0, change)
        return wanted

    # --- status --------------------------------------------------------------------------------

    async def health(self) -> dict[str, Any]:
        """Identity, the values last set, and whether the driver answers."""
        thread = self._session.thread if self._session is not None else None
        info: dict[str, Any] = {
            "name": self.name,
            "driver": self.config.driver,
            "qcodes_name": self.qcodes_name if thread is not None else "",
            "open": thread is not None,
            "busy_with": thread.busy_with if thread else None,
            "settings": dict(self._cache),
        }
        if thread is not None and thread.busy_with is None:
            try:
                info["idn"] = await self._call(
                    lambda s: s.instrument.get_idn(), what="get_idn", timeout_s=HEALTH_TIMEOUT_S
                )
            except QconductorError as exc:
                info["error"] = str(exc)
        info["healthy"] = thread is not None and thread.healthy
        return info

    async def run_on_driver(
        self, fn: Callable[[Any], T], *, what: str = "run_on_driver", timeout_s: float | None = None
    ) -> T:
        """Run ``fn(instrument)`` on the driver thread (diagnostics and tests)."""
        return await self._call(lambda s: fn(s.instrument), what=what, timeout_s=timeout_s)

    # --- loop-side helpers ---------------------------------------------------------------------

    def _open_session(self) -> _LoSession:
        if self._session is None:
            raise QconductorError(
                ErrorCode.INSTRUMENT_ERROR,
                f"local oscillator {self.name} is not open (call open() first)",
                f"local_oscillators[{self.name}]",
            )
        return self._session

    async def _call(
        self,
        fn: Callable[[_LoSession], T],
        *,
        what: str,
        path: str = "",
        timeout_s: float | None = None,
    ) -> T:
        """Run ``fn(session)`` on the session's thread (which translates driver exceptions).
        Bound to the session current now: a call still queued after a close and reopen never
        reaches the new instrument."""
        session = self._open_session()
        path = path or f"local_oscillators[{self.name}]"
        try:
            return await session.thread.call(
                fn,
                session,
                timeout_s=self.config.timeout_s if timeout_s is None else timeout_s,
                what=what,
                path=path,
            )
        except QconductorError as exc:
            if exc.code == ErrorCode.TIMEOUT:
                self._cache.clear()  # whatever the hung call did is unknown
            raise
