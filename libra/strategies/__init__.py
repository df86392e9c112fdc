"""Built-in strategies: the ``freqtrade`` adapter and example strategies."""
