"""The failover and recovery benchmark (run.py): ours beside Socket.IO 4, same faults."""
