"""Running and combining runs: the pytest child process (pytest_process), shard plans (sharding),
merging shards (merge), pruning run folders (retention), A/B comparison (compare), mutants
(mutation, with importguard for their test processes).
"""
