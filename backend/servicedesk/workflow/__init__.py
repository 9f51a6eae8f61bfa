"""Work-order workflows as data: nodes, roles, deadlines in working time, timeout actions."""
