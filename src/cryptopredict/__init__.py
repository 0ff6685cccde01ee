"""CryptoPredict: self-hostable crypto market data and honest forecasts."""

__version__ = "0.1.0"
