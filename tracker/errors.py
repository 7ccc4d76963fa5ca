"""Errors that carry plain-language problems for the user."""


class InputError(ValueError):
    """Input refused. `problems` is a list of sentences a non-programmer can act on."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class PermissionDenied(InputError):
    """The user's role does not allow this."""


class ConcurrentChange(InputError):
    """Another person's change, made at the same moment, won: nothing of this one was saved
    (PostgreSQL, where several app servers write at once). Trying again is safe."""
