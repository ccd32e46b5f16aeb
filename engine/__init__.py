"""SkeletonNet engine: skeleton, kinematics, rotations, frames, pre-processing,
filters and inference backends. Imports no torch."""
