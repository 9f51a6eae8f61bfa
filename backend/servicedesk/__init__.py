"""servicedesk capability."""
