"""tariffs capability."""
