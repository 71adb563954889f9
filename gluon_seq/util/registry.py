"""The one way gluon_seq keeps a table of classes by name (tasks, codecs, serving
runtimes): ``@TASKS.register("ptb")`` stores a class and sets its ``attribute``
(``PtbTask.name = "ptb"``).  With ``package``, the first lookup imports every
module of it, so adding a class is adding a file."""
from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Dict, List, Optional

from .errors import UserError


class Registry:
    def __init__(self, what: str, attribute: str, package: Optional[str] = None):
        self.what, self.attribute, self.package = what, attribute, package
        self._classes: Dict[str, type] = {}
        self._discovered = package is None

    def register(self, name: str) -> Callable[[type], type]:
        """Class decorator: store the class under ``name`` and set its attribute to it."""
        def store(cls: type) -> type:
            setattr(cls, self.attribute, name)
            self._classes[name] = cls
            return cls
        return store

    def _discover(self) -> None:
        # Once per process, not "while empty": importing one module directly registers
        # that module's classes alone, and the others must still be found.
        if not self._discovered:
            self._discovered = True
            path = importlib.import_module(self.package).__path__
            for module in pkgutil.iter_modules(path):
                importlib.import_module(f"{self.package}.{module.name}")

    def names(self) -> List[str]:
        self._discover()
        return sorted(self._classes)

    def get(self, name) -> type:
        """The class registered as ``name``; a UserError naming the choices otherwise."""
        if name not in self.names():
            raise UserError(f"unknown {self.what} {name!r}; choose one of "
                            f"{', '.join(self.names())}.")
        return self._classes[name]
