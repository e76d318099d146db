"""What a run leaves behind and what later runs read: the run folder (runfolder), the ledger of
runs (ledger), the committed and provisional runtime baselines (baselines), the timings of a
report (measurements).
"""
