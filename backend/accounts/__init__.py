"""Customers and their accounts (prepaid or postpaid), and the ledger."""
