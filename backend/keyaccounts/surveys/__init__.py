"""Satisfaction surveys (R86, R93, R111): a question bank, questionnaires per segment, answers
from the customer's app or taken by phone, and the satisfaction index (docs/key-accounts.md)."""
