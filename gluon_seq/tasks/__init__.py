"""The tasks: each module wires one tutorial's data, model, loss, metric and codec
(:class:`base.Task`), registered with ``@register("name")``; every module here is
found on the first lookup, so adding a task is adding a file."""
from __future__ import annotations

from typing import List, Type

from ..util.registry import Registry
from .base import Task

TASKS = Registry("task", attribute="name", package=__name__)
register = TASKS.register


def names() -> List[str]:
    return TASKS.names()


def get(name: str) -> Type[Task]:
    return TASKS.get(name)


__all__ = ["Task", "register", "names", "get"]
