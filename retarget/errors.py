"""The one error type for bad input.

Anything a user hands us (a file, a name, a mapping) that we cannot use raises
InputError with a message that names the file and, where there is one, the row
and column. The CLI prints it as one line and exits with status 2.
"""


class InputError(ValueError):
    """Bad user input: the message is meant to be read by a person, on one line."""

    def __init__(self, message: str, *, path=None, row=None, column=None):
        where = []
        if path is not None:
            where.append(str(path))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}" if isinstance(column, str) else f"column {column}")
        self.path, self.row, self.column = path, row, column
        super().__init__((": ".join([", ".join(where), message]) if where else message).replace("\n", " "))
