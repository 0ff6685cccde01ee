"""`python -m cryptopredict.cli`: the same command as the `cryptopredict` script."""

from cryptopredict.cli.app import app

app()
