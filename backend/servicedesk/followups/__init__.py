"""What an order sets going elsewhere: a field task for an inspector, a meter command."""
