"""web layer of DealPulse."""
