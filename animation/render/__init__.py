"""ModernGL renderer: GPU skinning of an avatar, camera preview, skeleton overlays."""
from animation.render.renderer import Renderer, create_window

__all__ = ["Renderer", "create_window"]
