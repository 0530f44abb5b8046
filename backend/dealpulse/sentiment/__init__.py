"""sentiment layer of DealPulse."""
