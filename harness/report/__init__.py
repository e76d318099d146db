"""The run report: its model and exit codes (model), report.html (html), exports (export), the
handoff brief (brief), the JSON Schema (schemas/report.schema.json).
"""
