"""Payout runs: entitlements to payments, maker-checker approval, bank file export."""
