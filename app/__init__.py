"""The live app: CLI, capture, window, renderer, avatars, VMC and BVH streamers."""
