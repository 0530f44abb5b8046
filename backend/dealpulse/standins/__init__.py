"""standins layer of DealPulse."""
