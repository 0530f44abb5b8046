"""mail layer of DealPulse."""
