"""The `cryptopredict` command, one module per command group; `app` holds the root."""
