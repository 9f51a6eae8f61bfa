"""backend.prepaid."""
