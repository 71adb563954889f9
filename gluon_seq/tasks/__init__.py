"""Task registry.  Every module in this package that defines a Task subclass
decorated with :func:`register` is found automatically, so adding a task is
adding a file."""
from __future__ import annotations

import importlib
import pkgutil
from typing import Dict, List, Type

from ..util.errors import UserError
from .base import Task

_TASKS: Dict[str, Type[Task]] = {}


def register(cls: Type[Task]) -> Type[Task]:
    _TASKS[cls.name] = cls
    return cls


_discovered = False


def _discover() -> None:
    # Once per process, and not "when empty": importing one task module directly
    # registers that task alone, and the others must still be found.
    global _discovered
    if not _discovered:
        for module in pkgutil.iter_modules(__path__):
            if module.name != "base":
                importlib.import_module(f"{__name__}.{module.name}")
        _discovered = True


def names() -> List[str]:
    _discover()
    return sorted(_TASKS)


def get(name: str) -> Type[Task]:
    if name not in names():
        raise UserError(f"unknown task {name!r}; choose one of {', '.join(names())}.")
    return _TASKS[name]


__all__ = ["Task", "register", "names", "get"]
