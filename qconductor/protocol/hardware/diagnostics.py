"""Turning pydantic's validation errors into :class:`Diagnostic` s with config paths and hints.

Pydantic reports locations with extra segments (union tags such as ``Cluster`` or ``~software``,
``[key]`` for dictionary keys). :func:`resolve_loc` walks the model types alongside the location
and the raw input, drops those segments, and says which model the location is in, so an unknown
key can be answered with the closest valid key.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Discriminator, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from ..errors import Diagnostic, ErrorCode, format_loc

_UNION_TYPES = (typing.Union, types.UnionType)
_MISSING = object()


def _closest(word: str, choices: Sequence[str]) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def _unwrap(tp: Any) -> tuple[Any, Any]:
    """Strip ``Annotated``; return the bare type and the union discriminator, if any."""
    discriminator: Any = None
    while typing.get_origin(tp) is typing.Annotated:
        for meta in tp.__metadata__:
            if isinstance(meta, Discriminator | FieldInfo) and meta.discriminator is not None:
                discriminator = meta.discriminator
        tp = tp.__origin__
    return tp, discriminator


def _member_tag(member: Any, discriminator: Any) -> str | None:
    if isinstance(discriminator, str):
        bare, _ = _unwrap(member)
        if isinstance(bare, type) and issubclass(bare, BaseModel):
            field = bare.model_fields.get(discriminator)
            if field is not None:
                args = typing.get_args(field.annotation)
                return str(args[0]) if args else None
        return None
    if typing.get_origin(member) is typing.Annotated:
        for meta in member.__metadata__:
            tag = getattr(meta, "tag", None)
            if isinstance(tag, str):
                return tag
    return None


def _pick_member(tp: Any, discriminator: Any, seg: Any, raw: Any) -> tuple[Any, bool]:
    """Choose the union member a location goes through; True if ``seg`` was its tag."""
    members = [m for m in typing.get_args(tp) if m is not type(None)]
    tags = {_member_tag(m, discriminator): m for m in members}
    if isinstance(seg, str) and seg in tags:
        return tags[seg], True
    if len(members) == 1:
        return members[0], False
    wanted: Any = None
    if callable(discriminator) and raw is not _MISSING:
        wanted = discriminator(raw)
    elif isinstance(discriminator, str) and isinstance(raw, Mapping):
        wanted = raw.get(discriminator)
    return tags.get(wanted), False


def _child(raw: Any, seg: Any) -> Any:
    if isinstance(raw, Mapping):
        for key in (seg, str(seg)):
            if key in raw:
                return raw[key]
        return _MISSING
    if isinstance(raw, list | tuple) and isinstance(seg, int) and 0 <= seg < len(raw):
        return raw[seg]
    return _MISSING


def resolve_loc(
    root: type[BaseModel], raw: Any, loc: Sequence[int | str]
) -> tuple[list[int | str], Any, Any]:
    """Walk ``loc``: the cleaned path, the (bare) type it ends in and the raw value there."""
    path: list[int | str] = []
    tp: Any = root
    for seg in loc:
        if seg == "[key]":
            continue
        tp, discriminator = _unwrap(tp)
        consumed = False
        while typing.get_origin(tp) in _UNION_TYPES:
            member, consumed = _pick_member(tp, discriminator, seg, raw)
            if member is None:
                return path, None, raw
            tp, discriminator = _unwrap(member)
            if consumed:
                break
        if consumed:
            continue
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(seg))
            path.append(str(seg))
            if field is None:
                return path, None, _MISSING
            tp, raw = field.annotation, _child(raw, seg)
        elif origin is dict:
            path.append(str(seg))
            tp, raw = typing.get_args(tp)[1], _child(raw, seg)
        elif origin in (list, tuple):
            args = typing.get_args(tp)
            path.append(seg)
            index = seg if isinstance(seg, int) else 0
            tp = args[index] if origin is tuple and index < len(args) else args[0]
            raw = _child(raw, seg)
        else:
            path.append(seg)
            tp, raw = None, _MISSING
    bare, _ = _unwrap(tp)
    if typing.get_origin(bare) in _UNION_TYPES:
        member, _ = _pick_member(bare, _unwrap(tp)[1], None, raw)
        bare = _unwrap(member)[0] if member is not None else None
    return path, bare, raw


def _model_fields(tp: Any) -> list[str]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


def _first_sentence(text: str | None) -> str | None:
    if not text:
        return None
    return text.strip().split("\n")[0].split(". ")[0].rstrip(".")


_INSTRUMENT_TAGS = ("Cluster", "LocalOscillator", "IQMixer", "OpticalModulator")


def _unknown_key(root: type[BaseModel], raw: Any, loc: tuple[int | str, ...]) -> Diagnostic:
    parent, tp, _ = resolve_loc(root, raw, loc[:-1])
    key = str(loc[-1])
    valid = _model_fields(tp)
    near = _closest(key, valid)
    listed = ", ".join(valid)
    return Diagnostic(
        code=ErrorCode.CONFIG_UNKNOWN_KEY,
        message=f"unknown key '{key}'",
        path=format_loc([*parent, key]),
        hint=f"did you mean '{near}'? valid keys: {listed}" if near else f"valid keys: {listed}",
    )


def _missing_key(root: type[BaseModel], raw: Any, loc: tuple[int | str, ...]) -> Diagnostic:
    path, _, _ = resolve_loc(root, raw, loc)
    _, parent_tp, parent_raw = resolve_loc(root, raw, loc[:-1])
    key = str(loc[-1])
    hint = None
    if isinstance(parent_raw, Mapping):
        near = _closest(key, [str(k) for k in parent_raw])
        if near is not None:
            hint = f"found '{near}': did you mean '{key}'?"
    if hint is None and isinstance(parent_tp, type) and issubclass(parent_tp, BaseModel):
        info = parent_tp.model_fields.get(key)
        hint = _first_sentence(info.description if info else None)
    return Diagnostic(
        code=ErrorCode.CONFIG_MISSING_KEY,
        message=f"missing required key '{key}'",
        path=format_loc(path),
        hint=hint,
    )


def _diagnostic(root: type[BaseModel], raw: Any, error: ErrorDetails) -> Diagnostic:
    loc = tuple(error["loc"])
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "extra_forbidden":
        return _unknown_key(root, raw, loc)
    if kind == "missing":
        return _missing_key(root, raw, loc)
    path, _, value = resolve_loc(root, raw, loc)
    where = format_loc(path)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return _tag_diagnostic(kind, ctx, path, value)
    if kind == "literal_error":
        return _literal_diagnostic(path, error, ctx)
    if kind.startswith("qc_"):  # our own PydanticCustomErrors carry a hint
        code = (
            ErrorCode.CONFIG_SLOT_OUT_OF_RANGE
            if kind == "qc_slot_range"
            else ErrorCode.CONFIG_BAD_VALUE
        )
        hint = str(ctx["hint"]) if "hint" in ctx else None
        return Diagnostic(code=code, message=error["msg"], path=where, hint=hint)
    shown = repr(error.get("input"))
    if len(shown) > 60:
        shown = shown[:57] + "..."
    what = "key" if loc and loc[-1] == "[key]" else "value"
    message = error["msg"].split(" following the rules at ")[0]
    return Diagnostic(
        code=ErrorCode.CONFIG_BAD_VALUE,
        message=f"{what} {shown}: {message[:1].lower()}{message[1:]}",
        path=where,
    )


def _tag_diagnostic(
    kind: str, ctx: Mapping[str, Any], path: list[int | str], value: Any
) -> Diagnostic:
    where = format_loc([*path, "instrument_type"])
    is_module = len(path) >= 2 and path[-2] == "modules"
    expected = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",") if t.strip()]
    if not expected:
        from .channels import MODULE_TYPES

        expected = list(MODULE_TYPES if is_module else _INSTRUMENT_TAGS)
    listed = ", ".join(expected)
    what = "module type" if is_module else "instrument type"
    if kind == "union_tag_not_found":
        hint = f"give one of: {listed}"
        if isinstance(value, Mapping):
            near = _closest("instrument_type", [str(k) for k in value])
            if near is not None:
                hint = f"found '{near}': did you mean 'instrument_type'? {hint}"
        return Diagnostic(
            code=ErrorCode.CONFIG_MISSING_KEY,
            message=f"missing required key 'instrument_type' (the {what})",
            path=where,
            hint=hint,
        )
    tag = str(ctx.get("tag", ""))
    near = _closest(tag, expected)
    hint = f"did you mean '{near}'? valid: {listed}" if near else f"valid: {listed}"
    return Diagnostic(
        code=ErrorCode.CONFIG_UNKNOWN_MODULE_TYPE
        if is_module
        else ErrorCode.CONFIG_UNKNOWN_INSTRUMENT_TYPE,
        message=f"unknown {what} '{tag}'",
        path=where,
        hint=hint,
    )


def _literal_diagnostic(
    path: list[int | str], error: ErrorDetails, ctx: Mapping[str, Any]
) -> Diagnostic:
    expected = str(ctx.get("expected", ""))
    choices = [c.strip(" '") for c in expected.replace(" or ", ",").split(",") if c.strip()]
    given = error.get("input")
    near = _closest(str(given), choices)
    hint = f"did you mean '{near}'? expected {expected}" if near else f"expected {expected}"
    if path == ["version"]:
        return Diagnostic(
            code=ErrorCode.CONFIG_UNSUPPORTED_VERSION,
            message=f"unsupported config version {given!r}",
            path="version",
            hint="supported versions: '0.1' and '0.2'; absent means '0.1'",
        )
    return Diagnostic(
        code=ErrorCode.CONFIG_BAD_VALUE,
        message=f"value {given!r} is not allowed",
        path=format_loc(path),
        hint=hint,
    )


def diagnostics_from_validation_error(
    root: type[BaseModel], raw: Any, exc: ValidationError
) -> list[Diagnostic]:
    """One diagnostic per pydantic error, in document order, without duplicates."""
    seen: set[tuple[str, str, str]] = set()
    out: list[Diagnostic] = []
    for error in exc.errors(include_url=False):
        diagnostic = _diagnostic(root, raw, error)
        key = (diagnostic.code, diagnostic.path, diagnostic.message)
        if key not in seen:
            seen.add(key)
            out.append(diagnostic)
    # A misspelled required key shows up twice (missing + unknown): keep the unknown key only,
    # its hint already names the right spelling.
    unknown = {d.path for d in out if d.code == ErrorCode.CONFIG_UNKNOWN_KEY}
    return [d for d in out if not _explained_by_typo(d, unknown)]


def _explained_by_typo(diagnostic: Diagnostic, unknown: set[str]) -> bool:
    if diagnostic.code != ErrorCode.CONFIG_MISSING_KEY:
        return False
    parent, _, key = diagnostic.path.rpartition(".")
    for path in unknown:
        other_parent, _, other = path.rpartition(".")
        if other_parent == parent and _closest(key, [other]) is not None:
            return True
    return False
