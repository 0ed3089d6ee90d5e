"""The one error type users see: a message that names the problem and where it is."""


class InoculateError(Exception):
    """A problem with the user's input or environment, printed as one line by the CLI.

    `where` names the place (a file, `file:line`, a config key) so the user can go straight to it.
    """

    def __init__(self, message: str, where: str | None = None):
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)
