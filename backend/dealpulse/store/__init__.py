"""store layer of DealPulse."""
