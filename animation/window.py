"""A window (the live app's and the label review tool's): GLFW + the renderer, mouse
orbit/zoom, resizing, key bindings, HUD text.

The HUD is drawn into the camera image / a strip with OpenCV (text on the
CPU image, then one texture upload), which keeps the GL side to the
renderer's fixed set of draws.
"""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from animation.avatar import Avatar
from animation.render import Renderer, create_window


class Window:
    """A resizable window showing the avatar (and optionally a camera image beside it).

    ``keys`` maps GLFW key codes to callbacks; left-drag orbits, the wheel zooms.
    """

    def __init__(self, width: int, height: int, avatar: Avatar, title: str = "SkeletonNet mocap",
                 vsync: bool = True, background=(0.12, 0.12, 0.14)):
        import glfw

        self.glfw = glfw
        self.win = create_window(width, height, title)
        glfw.swap_interval(1 if vsync else 0)
        fw, fh = glfw.get_framebuffer_size(self.win)
        self.renderer = Renderer(fw, fh, window=self.win, avatar=avatar)
        self.renderer.background = tuple(background)
        # an animation viewer's view: the whole body framed, following its root, on a floor grid
        self.renderer.camera.auto_fit = True
        self.renderer.follow_tau = 0.35
        self.renderer.show_floor = True
        self.keys: dict[int, Callable[[], None]] = {glfw.KEY_ESCAPE: self.close}
        self._drag = None
        glfw.set_key_callback(self.win, self._on_key)
        glfw.set_mouse_button_callback(self.win, self._on_button)
        glfw.set_cursor_pos_callback(self.win, self._on_cursor)
        glfw.set_scroll_callback(self.win, self._on_scroll)
        glfw.set_framebuffer_size_callback(self.win, lambda w, x, y: self.renderer.resize(x, y))

    # ------------------------------------------------------------------ input

    def _on_key(self, win, key, scancode, action, mods):
        if action == self.glfw.PRESS and key in self.keys:
            self.keys[key]()

    def _on_button(self, win, button, action, mods):
        if button == self.glfw.MOUSE_BUTTON_LEFT:
            self._drag = self.glfw.get_cursor_pos(win) if action == self.glfw.PRESS else None

    def _on_cursor(self, win, x, y):
        if self._drag is not None:
            dx, dy = x - self._drag[0], y - self._drag[1]
            self.renderer.camera.orbit(-dx * 0.4, dy * 0.4)
            self._drag = (x, y)

    def _on_scroll(self, win, dx, dy):
        self.renderer.camera.zoom(0.9 ** dy)

    # ------------------------------------------------------------------ frame

    @property
    def open(self) -> bool:
        return not self.glfw.window_should_close(self.win)

    def request_close(self) -> None:
        """Ask the window to close (as its close button does); ``open`` turns False."""
        self.glfw.set_window_should_close(self.win, True)

    def show(self, rotations=None, root_position=None, frame=None, joints_2d=None, joints_3d_world=None,
             hud: list[str] | None = None, pelvis=None) -> None:
        """Pose, draw, swap and poll events: one call per frame (``pelvis``: the pelvis rotation,
        see ``Renderer.set_pose``)."""
        r = self.renderer
        r.set_pose(rotations, root_position, pelvis)
        r.render(frame=frame, joints_2d=joints_2d, joints_3d_world=joints_3d_world,
                 hud=hud_image(hud) if hud else None)
        self.glfw.swap_buffers(self.win)
        self.glfw.poll_events()

    def screenshot(self) -> np.ndarray:
        return self.renderer.read()

    def close(self) -> None:
        """Destroy the window and its renderer."""
        self.renderer.close()
        self.glfw.destroy_window(self.win)
        self.glfw.terminate()


def hud_image(lines: list[str], width: int = 430) -> np.ndarray:
    """HUD text as a small dark image (BGR), one line per entry."""
    img = np.full((12 + 24 * len(lines), width, 3), 24, np.uint8)
    for k, line in enumerate(lines):
        cv2.putText(img, line, (10, 26 + 24 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (235, 235, 235), 1, cv2.LINE_AA)
    return img
