"""A quick path through the marshmallow schemas of request bodies.

``quick_loader(schema)`` compiles a schema's fields into one function that returns exactly what
``schema.load`` returns (the same values, a new dict in the schema's field order) for a body the schema
accepts, and raises ``Unsure`` for anything else. Rule: the quick path only accepts. It never refuses
and never words an error: on ``Unsure`` the caller loads the body with marshmallow, which words every
error as before. A schema using anything not listed here (another field class, ``data_key``, defaults,
hooks of its own, ``unknown`` other than RAISE) gets no quick path (``quick_loader`` returns ``None``).

Why: marshmallow's machinery takes ~0.8 ms for a 35-resource episode; this takes ~0.1 ms
(bench/profiles/ingest.md, Session 20). ``tests/service/test_request_quickload.py`` holds it to marshmallow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, missing

Load = Callable[[Any], Any]
Validators = tuple[Callable[[Any], Any], ...]


class Unsure(Exception):
    """The quick path does not vouch for this body: load it with marshmallow."""


class Unsupported(Exception):
    """A schema or field the quick path does not know (compile time)."""


def quick_loader(schema: Schema, *, own_hooks: bool = False) -> Load | None:
    """The quick path of ``schema`` (``own_hooks``: the caller runs the schema's hooks itself), or ``None``."""
    try:
        return _schema(schema, own_hooks)
    except Unsupported:
        return None


def _validated(validators: Sequence[Callable[[Any], Any]], value: Any) -> Any:
    try:
        for validator in validators:
            if validator(value) is False:
                raise Unsure
    except ValidationError as err:
        raise Unsure from err
    return value


def _schema(schema: Schema, own_hooks: bool) -> Load:
    if schema.many or schema.unknown != RAISE or (any(schema._hooks.values()) and not own_hooks):
        raise Unsupported(type(schema).__name__)
    parts = [(name, _field(field), field.required) for name, field in schema.load_fields.items()]
    allowed = frozenset(name for name, _, _ in parts)

    def load(data: Any) -> dict[str, Any]:
        if type(data) is not dict or not allowed.issuperset(data):
            raise Unsure
        out: dict[str, Any] = {}
        for name, part, required in parts:
            if name in data:
                out[name] = part(data[name])
            elif required:
                raise Unsure
        return out
    return load


def _field(field: fields.Field[Any]) -> Load:
    if (field.data_key is not None or field.attribute is not None or field.load_default is not missing
            or field.allow_none or field.pre_load or field.post_load):
        raise Unsupported(repr(field))
    validators = tuple(field.validators)
    if type(field) is fields.String:
        return _exact(str, validators)
    if type(field) is fields.Integer and field.strict:  # a loose Integer turns 3.0 and "3" into 3
        return _exact(int, validators)
    if type(field) is fields.Boolean:
        return _boolean(field, validators)
    if type(field) is fields.Raw:
        return _raw(validators)
    if type(field) is fields.Nested:
        return _nested(field, validators)
    if type(field) is fields.List:
        return _list(field, validators)
    if type(field) is fields.Dict:
        return _dict(field, validators)
    raise Unsupported(repr(field))


def _exact(kind: type, validators: Validators) -> Load:
    """A value of exactly ``kind`` (a bool is no int here), then the field's validators."""
    def load(value: Any) -> Any:
        if type(value) is not kind:
            raise Unsure
        return _validated(validators, value)
    return load


def _boolean(field: fields.Boolean, validators: Validators) -> Load:
    truthy, falsy = field.truthy, field.falsy

    def load(value: Any) -> Any:
        if type(value) is not bool:
            raise Unsure
        if truthy:  # as marshmallow: truthy first, then falsy; without truthy values, bool(value)
            if value in truthy:
                value = True
            elif value in falsy:
                value = False
            else:
                raise Unsure
        return _validated(validators, value)
    return load


def _raw(validators: Validators) -> Load:
    def load(value: Any) -> Any:
        if value is None:
            raise Unsure
        return _validated(validators, value)
    return load


def _nested(field: fields.Nested, validators: Validators) -> Load:
    if field.many or field.only is not None or field.exclude or field.unknown is not None:
        raise Unsupported(repr(field))
    inner = _schema(field.schema, own_hooks=False)

    def load(value: Any) -> Any:
        return _validated(validators, inner(value))
    return load


def _list(field: fields.List[Any], validators: Validators) -> Load:
    inner = _field(field.inner)

    def load(value: Any) -> Any:
        if type(value) is not list:
            raise Unsure
        return _validated(validators, [inner(item) for item in value])
    return load


def _dict(field: fields.Dict, validators: Validators) -> Load:
    keys = _field(field.key_field) if field.key_field is not None else None
    values = _field(field.value_field) if field.value_field is not None else None

    def load(value: Any) -> Any:
        if type(value) is not dict:
            raise Unsure
        if keys is None and values is None:
            return _validated(validators, dict(value))
        out = {keys(k) if keys else k: values(v) if values else v for k, v in value.items()}
        return _validated(validators, out)
    return load
