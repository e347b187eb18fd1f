"""`think batch`: many questions, K at a time, resumable, within batch-wide budgets."""
