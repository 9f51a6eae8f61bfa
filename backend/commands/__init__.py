"""commands capability."""
