"""DealPulse: the deal next to the email."""

__version__ = "0.1.0"
