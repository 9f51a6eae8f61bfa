"""backend.field.tracks."""
