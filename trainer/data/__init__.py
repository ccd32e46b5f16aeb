"""Training data: synthetic renders of posed Anny bodies, shards on disk, loaders."""
