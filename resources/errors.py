"""Errors raised at the IO boundaries. Each names what is wrong so a user can fix it."""


class EdgelineError(Exception):
    """Base class for every error the resources raise on purpose."""


class InvalidKeyError(EdgelineError, ValueError):
    """An artifact key is not a clean relative path."""


class ArtifactNotFoundError(EdgelineError, KeyError):
    """No artifact is stored under a key."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


class InvalidModelNameError(EdgelineError, ValueError):
    """A model name that SageMaker would refuse (and so both environments refuse)."""


class UnknownModelError(EdgelineError, LookupError):
    """No model group with that name is registered."""


class ForeignModelError(EdgelineError, PermissionError):
    """A model group of that name exists but another deployment (or team) owns it: this
    deployment neither registers into it nor reads its versions."""


class UnknownModelVersionError(EdgelineError, LookupError):
    """The model exists but has no such version."""


class InvalidStatusTransitionError(EdgelineError, ValueError):
    """A status change that the approval workflow does not allow."""


class InvalidDecisionError(EdgelineError, ValueError):
    """An approval or rejection without a usable reason or author."""


class InvalidTelemetryEventError(EdgelineError, ValueError):
    """A telemetry event that lacks a field the store needs, or has a bad value in it."""

    def __init__(self, message: str, field: str = "event") -> None:
        super().__init__(message)
        self.field = field


class ImmutableArtifactError(EdgelineError, RuntimeError):
    """A write to a write-once key (a model file, a published version's file) that already
    holds other bytes."""


class ConcurrentWriteError(EdgelineError, RuntimeError):
    """A compare-and-swap lost: the key no longer holds what the writer read."""
