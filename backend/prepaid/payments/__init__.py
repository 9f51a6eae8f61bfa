"""Online payments (R36-R38): orders, provider notifications, reconciliation."""
