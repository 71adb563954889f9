"""What every run setting and task option may be, declared on its field (and its
flag, when not ``--field-name``), and the one check that reads them::

    pooling: str = field(default="last", metadata={"choices": ["last", "max"]})
    qa: int = field(default=1, metadata={"check": whole(1, 20), "flag": "--task"})

:func:`validate` checks a RunConfig or a task's options whenever one is made
(CLI, ``config.json``, Python), before any work starts, and raises one
:class:`UserError` naming the flag, the value and what is allowed.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from .errors import UserError

SEED_LIMIT = 2 ** 32  # seeds go to numpy's RandomState, which takes 0..2**32 - 1


@dataclass(frozen=True)
class Check:
    """``test(value)`` is True for an allowed value; ``allowed`` says which are, in words."""
    allowed: str
    test: Callable[[Any], bool]


def _is_whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def whole(low: int = 1, high: Optional[int] = None) -> Check:
    allowed = (f"a whole number from {low} to {high}" if high is not None
               else f"a whole number of at least {low}")
    return Check(allowed, lambda v: _is_whole(v) and v >= low and (high is None or v <= high))


def number(low: Optional[float] = None, high: Optional[float] = None,
           low_open: bool = False, high_open: bool = False) -> Check:
    """A finite real number within the bounds (``*_open``: the bound itself is excluded)."""
    parts = []
    if low is not None:
        parts.append(f"{'above' if low_open else 'at least'} {low:g}")
    if high is not None:
        parts.append(f"{'below' if high_open else 'at most'} {high:g}")
    allowed = "a finite number" + (" " + " and ".join(parts) if parts else "")

    def test(v):
        return _is_real(v) and (low is None or (v > low if low_open else v >= low)) \
            and (high is None or (v < high if high_open else v <= high))
    return Check(allowed, test)


def positive() -> Check:
    return number(0, low_open=True)


def fraction() -> Check:
    """Strictly between 0 and 1: a share that must leave something on both sides."""
    return Check("a number strictly between 0 and 1", number(0, 1, True, True).test)


def dropout_rate() -> Check:
    return number(0, 1, high_open=True)


def one_of(values: Sequence) -> Check:
    return Check(f"one of {', '.join(map(str, values))}", lambda v: v in list(values))


def text() -> Check:
    return Check("text", lambda v: isinstance(v, str))


def flag() -> Check:
    return Check("true or false", lambda v: isinstance(v, bool))


def optional(check: Check) -> Check:
    return Check(f"{check.allowed}, or not given", lambda v: v is None or check.test(v))


def seed() -> Check:
    return whole(0, SEED_LIMIT - 1)


def optimizer() -> Check:
    """A name MXNet's optimizer registry knows (case-insensitive, as MXNet looks it up)."""
    def known(value) -> bool:
        import mxnet as mx

        return isinstance(value, str) and value.lower() in mx.optimizer.Optimizer.opt_registry
    return Check("an optimizer MXNet knows (adam, sgd, rmsprop, nag, adagrad, ...)", known)


def devices() -> Check:
    """The syntax of ``--ctx``; whether a GPU can run is checked when training starts."""
    def parses(value) -> bool:
        from .runtime import parse_device_list

        try:
            parse_device_list(value)
        except (UserError, TypeError, AttributeError):
            return False
        return True
    return Check("cpu, cpu:N or gpu:N, comma-separated, each device once", parses)


def flag_of(field) -> str:
    """A field's (or name's) flag: its own ``flag``, else ``batch_size`` -> ``--batch-size``."""
    if isinstance(field, str):
        return "--" + field.replace("_", "-")
    return field.metadata.get("flag") or flag_of(field.name)


def check_of(field: dataclasses.Field) -> Optional[Check]:
    if "check" in field.metadata:
        return field.metadata["check"]
    if "choices" in field.metadata:
        return one_of(field.metadata["choices"])
    return None


def validate(values) -> None:
    """A UserError naming the first field of dataclass ``values`` that breaks its check."""
    for field in dataclasses.fields(values):
        rule = check_of(field)
        value = getattr(values, field.name)
        if rule is not None and not rule.test(value):
            raise UserError(f"{flag_of(field)} {_shown(value)} is not allowed: it must be "
                            f"{rule.allowed}.")


def _shown(value) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def option(default, check: Optional[Check] = None, help: str = "", **metadata):
    """A task option's dataclass field: default, check, help, other metadata (``flag``...)."""
    if check is not None:
        metadata["check"] = check
    if help:
        metadata["help"] = help
    return dataclasses.field(default=default, metadata=metadata)
