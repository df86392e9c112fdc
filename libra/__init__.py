"""LIBRA: an asyncio trading daemon with plugin strategies and gateways."""

__version__ = "0.1.0"

__all__ = ["__version__"]
