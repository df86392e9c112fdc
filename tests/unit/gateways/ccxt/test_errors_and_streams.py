"""The ccxt error map, backoff, bar closing and config."""

from __future__ import annotations

import ccxt
import pytest
from pydantic import ValidationError

from libra.core.errors import GatewayAuthError, GatewayError, GatewayUnavailable
from libra.gateways.ccxt.config import CCXTGatewayConfig
from libra.gateways.ccxt.errors import Outcome, classify, describe, map_ccxt_errors
from libra.gateways.ccxt.streams import Backoff, BarCloser


@pytest.mark.parametrize(("error", "outcome"), [
    (ccxt.AuthenticationError("x"), Outcome.FATAL),
    (ccxt.PermissionDenied("x"), Outcome.FATAL),
    (ccxt.InvalidOrder('binance {"code":-2010,"msg":"Duplicate order sent."}'), Outcome.DUPLICATE),
    (ccxt.DuplicateOrderId("x"), Outcome.DUPLICATE),
    (ccxt.OrderNotFound("x"), Outcome.NOT_FOUND),
    (ccxt.InsufficientFunds("x"), Outcome.REJECTED),
    (ccxt.InvalidOrder("x"), Outcome.REJECTED),
    (ccxt.BadRequest("x"), Outcome.REJECTED),
    (ccxt.BadSymbol("x"), Outcome.REJECTED),
    (ccxt.ExchangeError("x"), Outcome.REJECTED),
    (ccxt.DDoSProtection("x"), Outcome.TRANSIENT),
    (ccxt.RateLimitExceeded("x"), Outcome.TRANSIENT),
    (ccxt.InvalidNonce("x"), Outcome.TRANSIENT),
    (ccxt.RequestTimeout("x"), Outcome.AMBIGUOUS),
    (ccxt.ExchangeNotAvailable("x"), Outcome.AMBIGUOUS),
    (ccxt.OnMaintenance("x"), Outcome.AMBIGUOUS),
    (ccxt.NetworkError("x"), Outcome.AMBIGUOUS),
    (ccxt.OperationFailed("x"), Outcome.AMBIGUOUS),
    (ccxt.BadResponse("x"), Outcome.AMBIGUOUS),
    (KeyError("spot"), Outcome.AMBIGUOUS),
])
def test_classify(error, outcome):
    assert classify(error) is outcome


@pytest.mark.parametrize(("error", "raised"), [
    (ccxt.AuthenticationError("key k3y"), GatewayAuthError),
    (ccxt.RateLimitExceeded("slow"), GatewayUnavailable),
    (ccxt.RequestTimeout("late"), GatewayUnavailable),
    (ccxt.BadSymbol("nope"), GatewayError),
])
def test_map_ccxt_errors_raises_libra_errors_without_secrets(error, raised):
    with pytest.raises(raised) as caught, map_ccxt_errors("load_markets", ["k3y"]):
        raise error
    assert "k3y" not in str(caught.value)
    assert str(caught.value).startswith("load_markets failed: ")


def test_describe_scrubs_and_truncates():
    text = describe(ccxt.ExchangeError("s3cret " + "y" * 500), ["s3cret"])
    assert text.startswith("ExchangeError: *** ")
    assert len(text) <= 303


def test_backoff_doubles_to_the_maximum_with_jitter():
    backoff = Backoff(0.5, 3.0, 0.2, rng=lambda: 1.0)
    assert [backoff.next() for _ in range(5)] == pytest.approx([0.4, 0.8, 1.6, 2.4, 2.4])
    backoff.reset()
    assert backoff.next() == 0.4


def test_bar_closer_emits_each_candle_once_after_it_ends():
    closer = BarCloser(60_000, 1_000)
    assert closer.update([[0, 1, 1, 1, 1, 1]], 30_000) == []
    assert closer.update([[0, 1, 2, 1, 2, 1]], 50_000) == []
    assert closer.update([[60_000, 2, 2, 2, 2, 1]], 61_000) == [[0, 1, 2, 1, 2, 1]]
    assert closer.update([[0, 9, 9, 9, 9, 9]], 62_000) == []
    assert closer.update([], 119_000) == []
    assert closer.due(121_000) == [[60_000, 2, 2, 2, 2, 1]]
    assert closer.update([[60_000, 3, 3, 3, 3, 3]], 122_000) == []


def test_config_is_frozen_strict_and_hides_secrets():
    config = CCXTGatewayConfig(exchange="binance", api_key="k-123", secret="s-456")
    assert "s-456" not in repr(config)
    assert "s-456" not in str(config.model_dump())
    assert config.ccxt_config()["secret"] == "s-456"
    assert config.secrets() == ["k-123", "s-456"]
    with pytest.raises(ValidationError):
        CCXTGatewayConfig(exchange="binance", unknown=1)
    with pytest.raises(ValidationError, match="timeframe"):
        CCXTGatewayConfig(exchange="binance", timeframe="7x")
    with pytest.raises(ValidationError):
        config.sandbox = True  # type: ignore[misc]
