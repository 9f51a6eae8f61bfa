"""95598 work orders: intake from every channel, first-contact ownership, timeline, close."""
