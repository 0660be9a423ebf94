"""Read models built from the ledger's event log by a batched, exactly-once runner."""
