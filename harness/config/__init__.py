"""The bottom layer: the hand-edited files - readers with errors that name file, key and fix
(files), selector groups and cadences (selectors), runtime budgets (budgets), escalation owners
(owners). Imports nothing else of the harness.
"""
