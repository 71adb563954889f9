"""The one way gluon_seq keeps a table of classes by name (codecs, serving runtimes)."""
from __future__ import annotations

from typing import Callable, Dict


def registrar(table: Dict[str, type], attribute: str) -> Callable[[str], Callable[[type], type]]:
    """``register = registrar(TABLE, "kind")`` makes a class decorator factory:
    ``@register("name")`` stores the class in ``TABLE`` under ``name`` and sets
    ``cls.kind = "name"``."""
    def register(name: str):
        def wrap(cls: type) -> type:
            setattr(cls, attribute, name)
            table[name] = cls
            return cls
        return wrap
    return register
