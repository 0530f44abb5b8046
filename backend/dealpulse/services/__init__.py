"""services layer of DealPulse."""
