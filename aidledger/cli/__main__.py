"""``python -m aidledger.cli``: the command line."""

from aidledger.cli import app

app()
