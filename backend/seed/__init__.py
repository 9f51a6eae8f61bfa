"""A synthetic utility of any size, deterministic from a seed number (``meterline seed``)."""
