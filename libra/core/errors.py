"""Every LIBRA error: the whole tree is importable from here.

Errors are classified by what the operator or the kernel does next:

    LibraError
    ├── ConfigError              fatal at boot: bad file, unknown plugin, invalid options
    ├── PluginError              a plugin failed to import or build
    │   └── PluginNotFoundError  no plugin of that name is installed
    ├── LifecycleError           illegal component state transition
    ├── GatewayError             a venue failed us
    │   ├── GatewayUnavailable   transient: network, rate limit, 5xx -> retry with backoff
    │   └── GatewayAuthError     fatal for that gateway: stop it, alert
    ├── StrategyError            user code raised; that strategy stops, the others go on
    ├── StateStoreError          the state file is corrupt, locked or from a newer version
    └── model errors             InvalidOrderTransition, OverfillError

``LibraError`` and the two model errors live in ``libra.model.errors`` (the model is the
lowest layer and raises them) and are re-exported here with the rest of the tree.
"""

from __future__ import annotations

from collections.abc import Sequence

from libra.model.errors import InvalidOrderTransition, LibraError, OverfillError


class ConfigError(LibraError):
    """The configuration is invalid; raised at boot, before anything connects."""

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None):
        super().__init__(message)
        self.path = path
        self.field = field


class PluginError(LibraError):
    """A plugin failed to import, validate or build."""


class PluginNotFoundError(PluginError, LookupError):
    """No installed plugin has the requested name."""

    def __init__(self, message: str, *, name: str, available: Sequence[str] = ()):
        super().__init__(message)
        self.name = name
        self.available = tuple(available)


class LifecycleError(LibraError):
    """A component was asked for a state change its current state does not allow."""


class GatewayError(LibraError):
    """A venue or its connection failed."""


class GatewayUnavailable(GatewayError):
    """Transient venue failure (network, rate limit, maintenance): retry with backoff."""


class GatewayAuthError(GatewayError):
    """The venue refused our credentials: fatal for that gateway."""


class StrategyError(LibraError):
    """Strategy code raised or misused the API."""


class StateStoreError(LibraError):
    """The state store cannot be used (corrupt, locked, newer schema)."""


__all__ = [
    "ConfigError",
    "GatewayAuthError",
    "GatewayError",
    "GatewayUnavailable",
    "InvalidOrderTransition",
    "LibraError",
    "LifecycleError",
    "OverfillError",
    "PluginError",
    "PluginNotFoundError",
    "StateStoreError",
    "StrategyError",
]
