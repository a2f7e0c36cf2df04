"""Exceptions with messages that name the offending file or key."""


class FlyclusterError(Exception):
    """Base class of flycluster's own errors."""


class CheckpointError(FlyclusterError, ValueError):
    """A checkpoint or network directory is missing, corrupt or incompatible."""


class ConnectomeError(FlyclusterError, ValueError):
    """The connectome file does not follow the expected schema."""


class StimulusError(FlyclusterError, ValueError):
    """A stimulus (movie, stimulus file or dataset folder) is missing or malformed."""


class ConfigError(FlyclusterError, ValueError):
    """A configuration value has the wrong type or range."""
