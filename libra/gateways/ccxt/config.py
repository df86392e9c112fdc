"""Options of the ``ccxt`` gateway."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from libra.core.config import LibraModel
from libra.model.events import timeframe_to_ns

Channel = Literal["quote", "trade", "bar", "book"]
_DEFAULT_CHANNELS: tuple[Channel, ...] = ("quote", "trade", "bar")
_RECEIVE_TIME: tuple[Channel, ...] = ("quote", "book")


class CCXTGatewayConfig(LibraModel):
    """A venue reached through ccxt: credentials, streams, timeouts, retries.

    ``ccxt_options`` is ccxt's ``options`` dict (named so because a gateway's ``options``
    key in the kernel config is the table of these very settings), ``client_config`` any
    other top-level ccxt constructor key (``urls``, ``exceptions``, ``has``, ...: tests
    point a client at a local exchange this way), ``params`` extra venue parameters added
    to every order.
    """

    exchange: str = Field(min_length=1, description="ccxt exchange id, e.g. 'binance'")
    api_key: SecretStr | None = None
    secret: SecretStr | None = None
    password: SecretStr | None = None
    sandbox: bool = False
    ccxt_options: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    client_config: dict[str, Any] = Field(default_factory=dict)

    #: Symbols streamed whatever the kernel subscribes: a paper gateway trading on this
    #: gateway's data needs them, since no strategy trades on this gateway itself.
    symbols: list[str] = Field(default_factory=list)
    timeframe: str = "1m"
    channels: list[Channel] = Field(default_factory=lambda: list(_DEFAULT_CHANNELS))
    book_depth: int = Field(10, gt=0)
    private_streams: bool = True
    #: Channels whose messages may lack a venue time (Binance spot bookTicker and depth
    #: carry none): those are stamped with the receive time instead of being rejected.
    receive_time_channels: list[Channel] = Field(default_factory=lambda: list(_RECEIVE_TIME))

    stale_after: float = Field(30.0, gt=0, description="seconds without a message: reconnect")
    reconnect_initial: float = Field(0.5, gt=0)
    reconnect_max: float = Field(30.0, gt=0)
    reconnect_jitter: float = Field(0.2, ge=0, le=1, description="fraction of each delay")
    poll_interval: float = Field(2.0, gt=0, description="REST polling when a watch is missing")
    order_poll_interval: float = Field(2.0, gt=0)
    bar_close_grace: float = Field(2.0, ge=0, description="seconds after a bar's end to close it")

    rate_limit: bool = True
    timeout_ms: int = Field(10_000, gt=0)
    connect_attempts: int = Field(3, gt=0)
    submit_attempts: int = Field(4, gt=0, description="sends of one order (same client id) "
                                 "that failed for another reason than a rate limit")
    submit_deadline: float = Field(30.0, gt=0, le=600, description="seconds an order may wait "
                                   "out rate limits and retries before it is rejected")
    retry_initial: float = Field(0.2, gt=0)
    retry_max: float = Field(5.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> CCXTGatewayConfig:
        timeframe_to_ns(self.timeframe)
        if self.reconnect_initial > self.reconnect_max:
            raise ValueError(f"reconnect_initial must not exceed reconnect_max, "
                             f"was {self.reconnect_initial} > {self.reconnect_max}")
        if self.retry_initial > self.retry_max:
            raise ValueError(f"retry_initial must not exceed retry_max, "
                             f"was {self.retry_initial} > {self.retry_max}")
        return self

    def secrets(self) -> list[str]:
        """Return the configured secret values (to scrub from logs and error text)."""
        return [s.get_secret_value() for s in (self.api_key, self.secret, self.password)
                if s is not None and s.get_secret_value()]

    def ccxt_config(self) -> dict[str, Any]:
        """Return the ccxt constructor config (holds the secrets: never log it)."""
        config: dict[str, Any] = dict(self.client_config)
        config["enableRateLimit"] = self.rate_limit
        config["timeout"] = self.timeout_ms
        merged_options = dict(config.get("options", {}))
        merged_options.update(self.ccxt_options)
        config["options"] = merged_options
        for key, value in (("apiKey", self.api_key), ("secret", self.secret),
                           ("password", self.password)):
            if value is not None:
                config[key] = value.get_secret_value()
        return config
