"""CoinGecko market data: client, rate limiting, circuit breaker, sync, fake server, mirror."""
