"""Service-desk indicators (R66, R120–R124): on-time rate, lead times, satisfaction."""
