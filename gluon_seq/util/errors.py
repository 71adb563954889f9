"""The one exception type that means "the user gave us something we cannot use"
(the CLI prints it as one line with status 2, the HTTP server answers 4xx; any
other exception is a bug and keeps its traceback), and the parser that raises it."""
import argparse


class UserError(ValueError):
    """Bad input, missing data or a corrupt artifact, described in one sentence."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose bad flag is a UserError (one sentence, no usage block)."""

    def error(self, message):
        raise UserError(f"{message}; see {self.prog} --help.")


def reason(err: BaseException) -> str:
    """The one line of an exception that says what went wrong, in words (for MXNet's,
    under its C++ traceback, the ``MXNetError: Check failed: ...: <words>`` line)."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    checks = [line for line in lines if "Check failed" in line or line.startswith("MXNetError")]
    if checks:
        text = checks[-1].split("MXNetError:", 1)[-1].strip()
        # "Check failed: fi->Read(data): Invalid NDArray file format" -> the words after the code
        return text.rsplit(": ", 1)[-1] if text.startswith("Check failed") else text
    words = [line for line in lines if not line.startswith(("Traceback", "File ", "[bt]"))]
    return words[0] if words else type(err).__name__
