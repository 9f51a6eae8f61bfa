"""Key accounts (大客户) and customer managers (客户经理): profiles with history, segmentation as
data (R90 key-account classes, ABC by revenue, 信用等级), managers' portfolios with alerts, visits
and notes, and the customer 360. Rules and formulas: docs/key-accounts.md."""
