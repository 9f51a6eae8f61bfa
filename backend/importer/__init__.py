"""Bulk import of customers and meters from CSV (a utility moving from its 营销系统)."""
