"""Optional packages (the ``serve``, ``onnx`` and ``notebooks`` extras), imported when needed."""
from __future__ import annotations

import importlib

from ..util.errors import UserError


def require(module: str, extra: str):
    """``module`` imported, or a one-sentence UserError naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"{module} is not installed; install the {extra} extra with "
                        f"pip install 'gluon_seq[{extra}]' (in a checkout: pip install -e "
                        f"'.[{extra}]').") from None
