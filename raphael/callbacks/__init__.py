"""Lightning callbacks: they read the module's outputs and `aux` records, never the network's internals."""
