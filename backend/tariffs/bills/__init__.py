"""Issued postpaid monthly bills, late fees (违约金), reminders (催费), the arrears list."""
