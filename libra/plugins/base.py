"""The published plugin API: ``PluginMetadata``, ``StrategyPlugin``, ``GatewayPlugin``.

These names and their behaviour are a contract with plugin authors (see
``docs/plugin_development.md``). Some of it is deliberately forgiving:

* a strategy that overrides ``__init__`` without calling ``super().__init__()``
  still has a working ``self.log`` and working order helpers;
* a strategy may assign its own ``self.log``;
* ``PluginMetadata.requires`` is always a tuple, whatever was passed.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from libra.core.clock import Clock
from libra.model.events import MarketData, Quote, Trade
from libra.model.fills import Fill
from libra.model.instrument import Instrument
from libra.model.order_events import OrderEvent
from libra.model.orders import Order
from libra.plugins.context import StrategyContext
from libra.plugins.research import research_tool
from libra.plugins.trading import TradingHelpers
from libra.plugins.venue import VenueOrderView, VenueStateStore

if TYPE_CHECKING:
    from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class PluginMetadata:
    """Immutable description of a plugin: identity, version and dependencies."""

    name: str
    version: str
    description: str
    author: str = ""
    requires: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if isinstance(self.requires, str):  # one requirement, not its characters
            object.__setattr__(self, "requires", (self.requires,))
        elif not isinstance(self.requires, tuple):
            object.__setattr__(self, "requires", tuple(self.requires))
        if not self.name:
            raise ValueError(f"invalid plugin name, was {self.name!r}")

    @classmethod
    def create(
        cls,
        name: str,
        version: str,
        description: str,
        author: str = "",
        requires: Iterable[str] | None = None,
    ) -> PluginMetadata:
        """Build metadata; ``requires`` may be any iterable and is stored as a tuple."""
        return cls(
            name=name,
            version=version,
            description=description,
            author=author,
            requires=() if requires is None else requires,  # type: ignore[arg-type]
        )


class _PluginLogger:
    """``self.log`` for plugins: works without ``super().__init__()`` and may be reassigned."""

    def __get__(self, instance: object | None, owner: type) -> Any:
        if instance is None:
            return self
        log = instance.__dict__.get("_libra_log")
        if log is None:
            log = logging.getLogger(f"libra.plugins.{owner.__name__}")
            instance.__dict__["_libra_log"] = log
        return log

    def __set__(self, instance: object, value: Any) -> None:
        instance.__dict__["_libra_log"] = value
        instance.__dict__["_libra_log_user_set"] = True


class StrategyPlugin(TradingHelpers, ABC):
    """Base class of every strategy plugin.

    Required: ``metadata()``, ``name``, ``symbols``, ``initialize(context)``,
    ``on_data(data)``. Optional hooks have working defaults. The kernel binds
    the trading context before ``initialize``; the order helpers inherited from
    ``TradingHelpers`` (``buy_market``, ``get_position``, ...) use it.
    """

    #: Optional pydantic model validating the strategy's ``params`` at boot.
    config_model: ClassVar[type[BaseModel] | None] = None

    log = _PluginLogger()

    @classmethod
    @abstractmethod
    def metadata(cls) -> PluginMetadata:
        """Return this plugin's metadata."""

    @property
    @abstractmethod
    def name(self) -> str:
        """Return the strategy's name."""

    @property
    @abstractmethod
    def symbols(self) -> list[str]:
        """Return the symbols this strategy trades, e.g. ``["BTC/USDT"]``."""

    @abstractmethod
    async def initialize(self, context: StrategyContext) -> None:
        """Prepare the strategy; ``context`` holds bus, cache, clock, config, orders, log.

        ``context`` reads as attributes (``context.orders``) and, as in the first
        published API, as a read-only mapping (``context["orders"]``).
        """

    @abstractmethod
    async def on_data(self, data: MarketData) -> None:
        """Handle one market data event (``Quote``, ``Trade``, ``Bar``, ``OrderBook``)."""

    async def on_tick(self, tick: Quote | Trade) -> None:
        """Handle a quote or trade; by default it goes to ``on_data``.

        When a strategy overrides this method, the kernel sends quotes and
        trades here instead of to ``on_data``.
        """
        await self.on_data(tick)

    async def on_fill(self, fill: Fill) -> None:
        """Handle a fill of one of this strategy's orders."""

    async def on_order_update(self, event: OrderEvent) -> None:
        """Handle an order event (accepted, rejected, canceled, ...) of this strategy."""

    async def backtest(self, config: dict[str, object]) -> dict[str, object]:
        """Run this strategy over history with LIBRA's backtest runner; return its metrics."""
        return await research_tool("backtest")(self, config)

    async def optimize(self, config: dict[str, object]) -> dict[str, object]:
        """Search this strategy's parameters with LIBRA's optimizer; return ``best_params``."""
        return await research_tool("optimize")(type(self), config)

    async def shutdown(self) -> None:
        """Release resources; called once when the kernel stops the strategy."""

    def on_save(self) -> dict[str, object] | None:
        """Return state to persist (JSON-safe), or ``None`` to persist nothing."""
        return None

    def on_load(self, state: dict[str, object]) -> None:
        """Restore state saved by ``on_save`` before the strategy starts."""


#: Receives each market data event a gateway emits.
DataSink: TypeAlias = Callable[[MarketData], None]
#: Receives each order event or fill a gateway emits.
OrderEventSink: TypeAlias = Callable[[OrderEvent | Fill], None]
#: Returns once the kernel has handled everything handed to it so far (see ``bind``).
Settled: TypeAlias = Callable[[], Awaitable[None]]
#: Either sink (the name before the sinks were typed apart).
EventSink: TypeAlias = DataSink | OrderEventSink
#: What a gateway's constructor gets: its validated ``config_model`` instance, or the raw
#: options mapping when it declares no model.
GatewayOptions: TypeAlias = "BaseModel | Mapping[str, object] | None"


class GatewayPlugin(ABC):
    """Base class of every gateway plugin: a venue turned into LIBRA events and commands.

    The kernel calls ``bind(on_data, on_order_event)`` before ``connect()``.
    A gateway emits market data through ``emit_data`` and order lifecycle
    events (acceptance, rejection, cancel, fills) through ``emit_order_event``;
    it never raises a venue's "no" at the caller, it emits a rejection.
    """

    #: Optional pydantic model validating this gateway's options at boot.
    config_model: ClassVar[type[BaseModel] | None] = None

    log = _PluginLogger()

    def __init__(self, config: GatewayOptions = None, *, gateway_id: str | None = None) -> None:
        self.config = config
        self.id = gateway_id or self.metadata().name
        self._on_data: DataSink = _discard
        self._on_order_event: OrderEventSink = _discard
        self.clock: Clock | None = None
        self.settled: Settled | None = None

    @classmethod
    @abstractmethod
    def metadata(cls) -> PluginMetadata:
        """Return this plugin's metadata."""

    def bind(
        self,
        on_data: DataSink,
        on_order_event: OrderEventSink,
        clock: Clock | None = None,
        *,
        settled: Settled | None = None,
    ) -> None:
        """Connect the gateway's outputs to the kernel. Do not override.

        ``settled`` returns once the kernel has handled everything emitted so far: every
        strategy has taken its events and the orders it placed have reached their venue.
        A gateway that replays history awaits it after each event (lockstep), so a
        replay at any speed sees the same orders at the same events as a backtest.
        """
        self._on_data = on_data
        self._on_order_event = on_order_event
        # Bound straight to the sinks: one call less per event on the hot path.
        self.emit_data = on_data  # type: ignore[method-assign, assignment]
        self.emit_order_event = on_order_event  # type: ignore[method-assign, assignment]
        if clock is not None:
            self.clock = clock
        if settled is not None:
            self.settled = settled

    def emit_data(self, event: MarketData) -> None:
        """Hand one market data event to the kernel."""
        self._on_data(event)

    def emit_order_event(self, event: OrderEvent | Fill) -> None:
        """Hand one order event or fill to the kernel."""
        self._on_order_event(event)

    @property
    def data_venue(self) -> str:
        """Return the venue name on this gateway's market data topics (its id by default).

        A gateway trading on another gateway's market data (paper on live
        data) returns that gateway's id, so strategies subscribe to the right
        topics.
        """
        return self.id

    def on_market_data(self, event: MarketData) -> None:
        """See ``data_venue``'s market data before any strategy does (default: ignore it).

        The kernel subscribes this handler when ``data_venue`` is another gateway's id, so a
        simulated venue can match its resting orders against that gateway's prices.
        """
        return None

    @property
    def replays_history(self) -> bool:
        """Return whether this gateway's market data is recorded history (default: False).

        When every gateway of a kernel replays history, the kernel's clock is the data's
        time (``ReplayClock``), which the gateway advances before it handles each event.
        Known once the options are validated, before ``connect()``.
        """
        return False

    @property
    def is_connected(self) -> bool:
        """Return whether the gateway is connected and its streams are healthy."""
        return True

    @abstractmethod
    async def connect(self) -> None:
        """Open connections, load instruments; raise ``GatewayError`` if that fails."""

    @abstractmethod
    async def disconnect(self) -> None:
        """Close every connection; must be safe to call twice."""

    async def subscribe(self, symbols: Sequence[str], channels: Sequence[str]) -> None:
        """Start streaming ``channels`` (quote, trade, bar, book) for ``symbols``."""
        return None

    async def run(self) -> None:
        """Stream until cancelled; the kernel runs this in a task it owns.

        Gateways whose streams run in their own supervised tasks may keep this
        default, which returns at once.
        """
        return None

    def instruments(self) -> dict[str, Instrument]:
        """Return the venue's instruments by symbol (empty if it has none to report)."""
        return {}

    @abstractmethod
    async def submit_order(self, order: Order) -> None:
        """Send ``order`` to the venue; outcomes arrive through ``emit_order_event``."""

    @abstractmethod
    async def cancel_order(self, order: Order) -> None:
        """Ask the venue to cancel ``order``; the outcome arrives as an event."""

    async def attach_store(self, store: VenueStateStore) -> None:
        """Restore what this gateway saved in the kernel's state store and keep saving there.

        Called once at start, after ``connect()`` and before reconciliation, when
        ``kernel.state_path`` is set (never in backtests). A simulated venue keeps its own
        state this way (default: nothing to do: a real venue keeps its own).
        """
        return None

    def adopt_orders(self, orders: Sequence[Order]) -> None:
        """Take over open orders restored from the state store, so their updates are
        reported (default: nothing to do)."""
        return None

    async def fetch_open_orders(
        self, symbols: Sequence[str] | None = None
    ) -> Sequence[VenueOrderView]:
        """Return the venue's open orders, for reconciliation (see ``VenueOrderView``)."""
        return []

    async def fetch_order(self, client_order_id: str, symbol: str) -> VenueOrderView | None:
        """Return the venue's view of one order by our client id, or ``None`` if unknown."""
        return None

    async def fetch_fills(self, since_ns: int | None = None) -> list[Fill]:
        """Return the venue's fills since ``since_ns``, for reconciliation."""
        return []

    async def fetch_balances(self) -> dict[str, Decimal]:
        """Return balances by currency, for reconciliation."""
        return {}


def _discard(event: object) -> None:
    """Default sink before the kernel binds a gateway: events go nowhere."""
