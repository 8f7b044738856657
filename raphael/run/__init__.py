"""Run plumbing every entry point shares: config validation and its errors, the run folder's lock, checkpoints
and their readable failures, the console, the CSV history and the closing summary."""
