"""Every LIBRA error, in one leaf module (it imports nothing from libra).

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
"""

from __future__ import annotations

from collections.abc import Sequence


class LibraError(Exception):
    """Base of every error LIBRA raises on purpose."""


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


class InvalidOrderTransition(LibraError):
    """An order event is not allowed in the order's current status; the order is unchanged.

    ``from_status`` and ``to_status`` are the ``OrderStatus`` values as strings.
    """

    def __init__(
        self,
        message: str,
        *,
        client_order_id: str | None = None,
        from_status: str | None = None,
        to_status: str | None = None,
    ) -> None:
        super().__init__(message)
        self.client_order_id = client_order_id
        self.from_status = from_status
        self.to_status = to_status


class OverfillError(LibraError):
    """A fill would take an order's filled quantity past its quantity; the order is unchanged.

    The quantities are ``Decimal`` (typed ``object`` to keep this module free of imports).
    """

    def __init__(
        self,
        message: str,
        *,
        client_order_id: str | None = None,
        quantity: object = None,
        filled_quantity: object = None,
        fill_quantity: object = None,
    ) -> None:
        super().__init__(message)
        self.client_order_id = client_order_id
        self.quantity = quantity
        self.filled_quantity = filled_quantity
        self.fill_quantity = fill_quantity
