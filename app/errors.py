"""The app's user-mistake error is the one of ``engine.errors`` (shared with the trainer)."""
from engine.errors import UserError

__all__ = ["UserError"]
