"""SkeletonNet trainer: the network (torch), losses, data, training, evaluation, export."""
