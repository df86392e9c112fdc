"""Built-in gateways: ``paper`` (simulated venue, replay feed) and ``ccxt`` (real exchanges)."""
