"""The one exception type that means "the user gave us something we cannot use".

The CLI prints its message as a single line and exits with status 2; the HTTP
server turns it into a 4xx.  Anything else is a bug and keeps its traceback.
"""


class UserError(ValueError):
    """Bad input, missing data or a corrupt artifact, described in one sentence."""
