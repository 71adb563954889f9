"""The tasks: each module wires one tutorial's data, model, loss, metric and codec
(:class:`base.Task`), registered with ``@register("name")``; every module here is
found on the first lookup, so adding a task is adding a file."""
from __future__ import annotations

from ..util.registry import Registry
from .base import Task

TASKS = Registry("task", attribute="name", package=__name__)
register, names, get = TASKS.register, TASKS.names, TASKS.get

__all__ = ["Task", "register", "names", "get"]
