"""Table-model instances built the way the ORM builds one from a row it loaded.

`Model(**values)` runs pydantic's construction and sets every field through
SQLAlchemy's instrumentation (~60 attribute events for a consult): about a fifth of a
submission's CPU on the one-unit write path, where the rows are written and read in
Core and the instances are never added to a session. `as_loaded` does what the ORM
does when it loads a row instead: a bare instance with its ORM state
(`ClassManager.new_instance`, which runs SQLModel's `__new__`), the values placed in
its `__dict__`. The fields not given take the model's defaults, as in `__init__`; no
validation runs, so the values must already be of the columns' types. Setting an
attribute afterwards is tracked as usual.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, TypeVar

from sqlmodel import SQLModel

M = TypeVar("M", bound=SQLModel)


@functools.cache
def _defaulted(cls: type[SQLModel]) -> tuple[tuple[str, Any], ...]:
    """The fields with a default: (name, field info), once per class."""
    return tuple((name, field) for name, field in cls.model_fields.items()
                 if not field.is_required())


def as_loaded(cls: type[M], values: Mapping[str, Any]) -> M:
    """An instance of table model `cls` holding `values`, the other fields defaulted."""
    manager: Any = cls._sa_class_manager  # type: ignore[attr-defined]
    instance: M = manager.new_instance()
    state = instance.__dict__
    for name, field in _defaulted(cls):
        if name not in values:
            state[name] = field.get_default(call_default_factory=True)
    state.update(values)
    object.__setattr__(instance, "__pydantic_fields_set__", set(values))
    return instance
