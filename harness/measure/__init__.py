"""Measuring a run: clocks (timing), the machine's speed (calibration), other processes' load
(contention), the environment and its fingerprint (environment). Imports config only.
"""
