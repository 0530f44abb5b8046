"""domain layer of DealPulse."""
