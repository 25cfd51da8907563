"""Job machinery that both sides share: the kinds and their models, and the runner a worker (or the CLI)
runs a job's logic in (lease, heartbeat, progress, cancel, retries, scratch folder)."""
