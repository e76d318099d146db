"""Judging a run: runtime budgets (budgets), escalations to owners (escalation), artifact
validation (validators).
"""
