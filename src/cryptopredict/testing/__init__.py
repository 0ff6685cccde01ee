"""Test doubles shipped with the package, so `cryptopredict fake-coingecko` works offline."""
