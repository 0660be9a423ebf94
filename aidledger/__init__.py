"""aidledger composition root: command line, settings and wiring."""
