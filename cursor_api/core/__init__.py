"""What every front-end shares: token pick and failover, the log entry, the stream
check, usage, and driving a front-end's renderer over a dialect's events."""
