"""Business expansion (业扩报装): applications to energisation, and the customer's lifecycle."""
