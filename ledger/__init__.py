"""The domain core of aidledger: values, programs, events and aggregates, stores and imports."""
