"""Strict decoding of request bodies: parsed JSON into the dataclass it must be, or MalformedRequest.

Unknown or missing keys and values of the wrong type are refused with where they are; a bool is never
taken for a number.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class MalformedRequest(ValueError):
    """A request body that does not have the shape its dataclass declares."""


def decode(cls: type[T], data: Any) -> T:
    """Build dataclass `cls` from parsed JSON, refusing unknown or missing keys and wrong types."""
    return typing.cast(T, _decode(cls, data, cls.__name__))


def _decode(kind: Any, value: Any, where: str) -> Any:
    if kind is Any:
        return value
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return _decode_dataclass(kind, value, where)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return _decode_union(args, value, where)
    if isinstance(kind, type) and kind in _SCALARS:
        accepts, message = _SCALARS[kind]
        if not accepts(value):
            raise MalformedRequest(f"{where}: {message}")
        return float(value) if kind is float else value
    if origin in (tuple, list):
        return _decode_sequence(origin, args, value, where)
    if origin is dict:
        return _decode_mapping(args, value, where)
    raise MalformedRequest(f"{where}: jenis {kind!r} tidak didukung")


# Each JSON scalar type: what it accepts (a bool is never a number here) and what it says otherwise.
_SCALARS: dict[type, tuple[Callable[[Any], bool], str]] = {
    bool: (lambda value: isinstance(value, bool), "harus boolean"),
    int: (lambda value: isinstance(value, int) and not isinstance(value, bool), "harus bilangan bulat"),
    float: (lambda value: isinstance(value, int | float) and not isinstance(value, bool), "harus bilangan"),
    str: (lambda value: isinstance(value, str), "harus teks"),
}


def _decode_dataclass(kind: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise MalformedRequest(f"{where}: harus berupa objek JSON")
    hints = typing.get_type_hints(kind)
    fields = {f.name: f for f in dataclasses.fields(kind) if f.init}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise MalformedRequest(f"{where}: kunci tidak dikenal: {', '.join(map(str, unknown))}")
    kwargs = {}
    for name, spec in fields.items():
        if name in value:
            kwargs[name] = _decode(hints[name], value[name], f"{where}.{name}")
        elif (spec.default is dataclasses.MISSING
              and spec.default_factory is dataclasses.MISSING):
            raise MalformedRequest(f"{where}: kunci {name!r} wajib ada")
    return kind(**kwargs)


def _decode_union(args: tuple[Any, ...], value: Any, where: str) -> Any:
    if value is None and type(None) in args:
        return None
    for arm in (a for a in args if a is not type(None)):
        try:
            return _decode(arm, value, where)
        except MalformedRequest:
            continue
    raise MalformedRequest(f"{where}: jenis nilai tidak sesuai")


def _decode_sequence(origin: Any, args: tuple[Any, ...], value: Any, where: str) -> Any:
    if not isinstance(value, list):
        raise MalformedRequest(f"{where}: harus berupa larik JSON")
    item = args[0] if args else Any
    items = [_decode(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    return tuple(items) if origin is tuple else items


def _decode_mapping(args: tuple[Any, ...], value: Any, where: str) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise MalformedRequest(f"{where}: harus berupa objek JSON")
    key_kind, value_kind = args or (str, Any)
    return {_decode(key_kind, k, where): _decode(value_kind, v, f"{where}.{k}")
            for k, v in value.items()}
