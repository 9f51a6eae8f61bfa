"""Business expansion (业扩) and the customer's lifecycle."""
