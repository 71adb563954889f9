"""The one exception type that means "the user gave us something we cannot use",
and the argument parser that raises it.

The CLI prints its message as a single line and exits with status 2; the HTTP
server turns it into a 4xx.  Anything else is a bug and keeps its traceback.
"""
import argparse


class UserError(ValueError):
    """Bad input, missing data or a corrupt artifact, described in one sentence."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, but a bad flag is a UserError: one sentence and exit
    status 2, where argparse would print its usage block too."""

    def error(self, message):
        raise UserError(f"{message}; see {self.prog} --help.")


def reason(err: BaseException) -> str:
    """The one line of an exception that says what went wrong, in words.

    MXNet's errors start with "Traceback (most recent call last):" and C++ file
    names; the reason is the ``MXNetError: Check failed: ...: <words>`` line."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    checks = [line for line in lines if "Check failed" in line or line.startswith("MXNetError")]
    if checks:
        text = checks[-1].split("MXNetError:", 1)[-1].strip()
        # "Check failed: fi->Read(data): Invalid NDArray file format" -> the words after the code
        return text.rsplit(": ", 1)[-1] if text.startswith("Check failed") else text
    words = [line for line in lines if not line.startswith(("Traceback", "File ", "[bt]"))]
    return words[0] if words else type(err).__name__
