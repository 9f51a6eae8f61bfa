"""Validate a parsed document against msgspec Structs and report *every* problem at once.

msgspec stops at the first error, which is right for the wire and wrong for an installer
editing a config file on a concentrator: fixing one typo per restart is how an agent ends up
half-configured. This walker converts field by field, recursing into nested Structs and lists
of Structs, and collects one message per problem with its full key path
(``buses[1].meters[3].address: …``). Only when nothing is wrong does it build the Struct.
"""

from __future__ import annotations

import types
import typing
from typing import Any, TypeVar, get_args, get_origin

import msgspec

T = TypeVar("T")


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _struct_type(tp: Any) -> type[msgspec.Struct] | None:
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return tp
    return None


def _strip_annotated(tp: Any) -> Any:
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    return tp


def _optional_struct(tp: Any) -> type[msgspec.Struct] | None:
    tp = _strip_annotated(tp)
    direct = _struct_type(tp)
    if direct is not None:
        return direct
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _struct_type(_strip_annotated(args[0]))
    return None


def _list_of_struct(tp: Any) -> type[msgspec.Struct] | None:
    tp = _strip_annotated(tp)
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) != 1:
            return None
        tp = _strip_annotated(args[0])
    if get_origin(tp) is list:
        (item,) = get_args(tp)
        return _struct_type(_strip_annotated(item))
    return None


def check(value: object, tp: Any, path: str, errors: list[str]) -> None:
    """Append a message for each problem of ``value`` as a ``tp`` at ``path``."""
    struct = _optional_struct(tp)
    if struct is not None and (value is not None or _struct_type(_strip_annotated(tp))):
        _check_struct(value, struct, path, errors)
        return
    item = _list_of_struct(tp)
    if item is not None and isinstance(value, list):
        for index, element in enumerate(value):
            _check_struct(element, item, f"{path}[{index}]", errors)
        return
    try:
        msgspec.convert(value, tp, strict=True)
    except msgspec.ValidationError as exc:
        reason = str(exc).split(" - at ", 1)[0]
        errors.append(f"{path}: {_describe(value)} is invalid: {reason}")


def _check_struct(
    value: object, struct: type[msgspec.Struct], path: str, errors: list[str]
) -> None:
    where = path or "(top level)"
    if not isinstance(value, dict):
        errors.append(f"{where}: expected a table, got {_describe(value)}")
        return
    hints = typing.get_type_hints(struct, include_extras=True)
    known = set()
    for field in msgspec.structs.fields(struct):
        known.add(field.encode_name)
        key = f"{path}.{field.encode_name}" if path else field.encode_name
        if field.encode_name not in value:
            if field.required:
                errors.append(f"{key}: required key is missing")
            continue
        check(value[field.encode_name], hints[field.name], key, errors)
    for extra in sorted(set(value) - known):
        key = f"{path}.{extra}" if path else str(extra)
        errors.append(f"{key}: unknown key (allowed: {', '.join(sorted(known))})")


def build(document: dict[str, Any], tp: type[T]) -> tuple[T | None, list[str]]:
    """Return (the Struct, []) when ``document`` is valid, else (None, every problem)."""
    errors: list[str] = []
    check(document, tp, "", errors)
    if errors:
        return None, errors
    try:
        return msgspec.convert(document, tp, strict=True), []
    except msgspec.ValidationError as exc:  # a constraint the walker could not see alone
        return None, [str(exc)]
