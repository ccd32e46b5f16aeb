"""The renderer: one object, on a GLFW window or offscreen (EGL).

GL resources (programs, buffers, textures, framebuffer) are made once; a frame
is buffer writes (bone matrices, camera image, overlay vertices) and draws.
Shaders are loaded from ``shaders/`` at start.
"""
from __future__ import annotations

import time
from pathlib import Path

import moderngl
import numpy as np

from animation.avatar import Avatar
from animation.render.camera import OrbitCamera
from engine import skeleton as S
from engine.errors import UserError

SHADERS = Path(__file__).resolve().parents[2] / "shaders"
MAX_OVERLAY_VERTICES = 4096


def load_shader(name: str) -> str:
    return (SHADERS / name).read_text()


def _mat(m: np.ndarray) -> bytes:
    """A 4x4 numpy matrix (acting on column vectors) as GL column-major bytes."""
    return np.ascontiguousarray(np.asarray(m, dtype=np.float32).T).tobytes()


def create_window(width: int, height: int, title: str = "SkeletonNet mocap", visible: bool = True):
    """A GLFW window with a current OpenGL 3.3 core context (call before any EGL context)."""
    import glfw

    if not glfw.init():
        raise UserError("GLFW could not initialise (is there a display? try --no-window)")
    glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
    glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
    glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
    glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
    glfw.window_hint(glfw.VISIBLE, visible)
    win = glfw.create_window(width, height, title, None, None)
    if not win:
        glfw.terminate()
        raise UserError("GLFW could not open a window with OpenGL 3.3 (try --no-window)")
    glfw.make_context_current(win)
    return win


class Renderer:
    """Draws an avatar (GPU skinning), a camera preview and skeleton overlays.

    ``Renderer(width, height)`` renders offscreen through EGL into its own
    framebuffer; ``Renderer(width, height, window=win)`` draws into a GLFW
    window's default framebuffer (``create_window`` first).
    """

    def __init__(self, width: int, height: int, window=None, avatar: Avatar | None = None):
        self.window = window
        if window is None:
            self.ctx = moderngl.create_context(standalone=True, backend="egl", require=330)
        else:
            self.ctx = moderngl.create_context(require=330)
        self.width, self.height = int(width), int(height)
        self.camera = OrbitCamera()
        # the live window's view (animation/window.py turns these on): follow the avatar's root with this
        # time constant in seconds (0 = at once, None = off), and draw a 1 m floor grid fixed in the
        # world so root motion stays visible
        self.follow_tau: float | None = None
        self.show_floor = False
        self._focus = np.array(self.camera.target, dtype=np.float64)
        self._last_render: float | None = None
        self.background = (0.12, 0.12, 0.14)
        self.light_dir = np.array([-0.4, -0.8, -0.5])
        self.light_color = (0.75, 0.75, 0.72)
        self.ambient = (0.35, 0.35, 0.38)
        ctx = self.ctx
        self.prog_skin = ctx.program(vertex_shader=load_shader("skin.vert"), fragment_shader=load_shader("lit.frag"))
        self.prog_quad = ctx.program(vertex_shader=load_shader("quad.vert"), fragment_shader=load_shader("quad.frag"))
        self.prog_lines = ctx.program(vertex_shader=load_shader("lines.vert"),
                                      fragment_shader=load_shader("lines.frag"))
        corners = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype="f4")
        self._quad_vbo = ctx.buffer(corners.tobytes())
        self._quad_vao = ctx.vertex_array(self.prog_quad, [(self._quad_vbo, "2f", "in_corner")])
        self._overlay_vbo = ctx.buffer(reserve=MAX_OVERLAY_VERTICES * 7 * 4, dynamic=True)
        self._overlay_vao = ctx.vertex_array(self.prog_lines, [(self._overlay_vbo, "3f 4f", "in_position", "in_color")])
        self._image_tex: dict = {}
        self._prog_tf = self._vao_tf = None  # transform feedback, made by skin_on_gpu when a test asks
        self._fbo = None
        self._make_framebuffer()
        self.avatar = None
        if avatar is not None:
            self.set_avatar(avatar)

    # ------------------------------------------------------------------ set-up

    def _make_framebuffer(self):
        if self.window is None:
            if self._fbo is not None:
                self._fbo.release()
            self._fbo = self.ctx.framebuffer(color_attachments=[self.ctx.renderbuffer((self.width, self.height), 4)],
                                             depth_attachment=self.ctx.depth_renderbuffer((self.width, self.height)))
            self.target = self._fbo
        else:
            self.target = self.ctx.screen

    def resize(self, width: int, height: int) -> None:
        """New viewport size (window resize, or a new offscreen size)."""
        if (int(width), int(height)) != (self.width, self.height) and width > 0 and height > 0:
            self.width, self.height = int(width), int(height)
            self._make_framebuffer()

    def set_avatar(self, avatar: Avatar) -> None:
        """Upload an avatar's vertex data and textures (once per avatar); the previous avatar's
        GL objects are freed."""
        self._release_avatar()
        ctx = self.ctx
        a = avatar
        self.avatar = a
        self._vbos = [ctx.buffer(np.ascontiguousarray(x, dtype="f4").tobytes()) for x in
                      (a.positions, a.normals, a.colors, a.uvs, a.joints, a.weights)]
        self._ibo = ctx.buffer(np.ascontiguousarray(a.indices, dtype="u4").tobytes())
        content = [(self._vbos[0], "3f", "in_position"), (self._vbos[1], "3f", "in_normal"),
                   (self._vbos[2], "4f", "in_color"), (self._vbos[3], "2f", "in_uv"),
                   (self._vbos[4], "4f", "in_joints"), (self._vbos[5], "4f", "in_weights")]
        self._avatar_vao = ctx.vertex_array(self.prog_skin, content, index_buffer=self._ibo, skip_errors=True)
        self._content = content
        self._bone_tex = ctx.texture((4, a.num_joints), 4, dtype="f4")
        self._bone_tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._textures = []
        for img in a.textures:
            t = ctx.texture((img.shape[1], img.shape[0]), 4, np.ascontiguousarray(img).tobytes())
            t.build_mipmaps()
            self._textures.append(t)
        rest = a.skin(a.skinning_matrices())  # (V, 3) the body at rest, world axes
        lo, hi = rest.min(0), rest.max(0)
        self._floor_y = float(lo[1])
        self._size = (float(hi[1] - lo[1]), float(max(hi[0] - lo[0], hi[2] - lo[2])))
        hips = a.rest_global[a.humanoid["hips"]][:3, 3]
        self._rest_centre = np.array([hips[0], 0.5 * (lo[1] + hi[1]), hips[2]])
        self.camera.target = tuple(self._rest_centre)
        self.set_pose(None)

    def _release_avatar(self) -> None:
        """Free the GL objects of the avatar being shown (buffers, vertex arrays, textures)."""
        if self.avatar is None:
            return
        for obj in (self._avatar_vao, self._vao_tf, *self._vbos, self._ibo, self._bone_tex, *self._textures):
            if obj is not None:
                obj.release()
        self._vao_tf = None
        self._vbos, self._textures = [], []

    def set_pose(self, rotations: np.ndarray | None, root_position=None,
                 pelvis: np.ndarray | None = None) -> np.ndarray:
        """Pose the avatar from our 15 absolute rotations (None = rest) and the pelvis rotation
        (``Avatar.node_globals``); returns the skinning matrices.

        The view's focus becomes the body's rest centre moved by ``root_position`` (3,) metres."""
        k = self.avatar.skinning_matrices(rotations, root_position, pelvis)
        self.write_bones(k)
        r = np.zeros(3) if root_position is None else np.asarray(root_position, dtype=np.float64)
        self._focus = self._rest_centre + np.nan_to_num(r)
        return k

    def write_bones(self, matrices: np.ndarray) -> None:
        """Upload (J, 4, 4) skinning matrices (rows of 4 texels, one column per texel)."""
        self._bone_tex.write(np.ascontiguousarray(np.asarray(matrices, "f4").transpose(0, 2, 1)).tobytes())

    # ------------------------------------------------------------------ drawing

    def _clear(self, alpha: float = 1.0):
        self.target.use()
        self.ctx.viewport = (0, 0, self.width, self.height)
        self.target.clear(*self.background, alpha, depth=1.0)

    def draw_avatar(self, view: np.ndarray, proj: np.ndarray, viewport=None) -> None:
        ctx = self.ctx
        if viewport is not None:
            ctx.viewport = viewport
        ctx.enable(moderngl.DEPTH_TEST)
        ctx.disable(moderngl.CULL_FACE)
        p = self.prog_skin
        p["view_proj"].write(_mat(proj @ view))
        p["model"].write(_mat(np.eye(4)))
        p["light_dir"].value = tuple(self.light_dir)
        p["light_color"].value = tuple(self.light_color)
        p["ambient"].value = tuple(self.ambient)
        self._bone_tex.use(location=0)
        p["bone_tex"].value = 0
        p["base_tex"].value = 1
        for part in self.avatar.parts:
            use = part.texture >= 0
            if use:
                self._textures[part.texture].use(location=1)
            p["use_texture"].value = use
            self._avatar_vao.render(moderngl.TRIANGLES, vertices=part.count, first=part.first)

    def _update_view(self, aspect: float, top: float = 0.0) -> None:
        """Frame the whole body below a HUD covering ``top`` of the height (fit), and follow its
        root (smoothed over real time)."""
        now = time.monotonic()
        dt = 0.0 if self._last_render is None else now - self._last_render
        self._last_render = now
        if self.avatar is None:
            return
        height, width = self._size
        self.camera.fit(height / (1.0 - top), width, aspect)
        if self.follow_tau is not None:
            self.camera.follow(self._focus, dt, self.follow_tau)

    def draw_floor(self, view: np.ndarray, proj: np.ndarray, half: int = 6) -> None:
        """A 1 m grid on the floor, ``half`` metres each way around the view's target (world-fixed lines)."""
        cx, cz = (round(float(c)) for c in np.asarray(self.camera.target)[[0, 2]])
        ticks = np.arange(-half, half + 1, dtype=np.float64)
        y = self._floor_y
        seg = []
        for d in ticks:
            seg += [(cx + d, y, cz - half), (cx + d, y, cz + half), (cx - half, y, cz + d), (cx + half, y, cz + d)]
        colour = np.clip(np.array(self.background) + 0.16, 0.0, 1.0)
        cols = np.tile(np.append(colour, 1.0), (len(seg), 1))
        self.draw_overlay(np.array(seg), cols, proj @ view, moderngl.LINES, depth=True)

    def draw_image(self, frame: np.ndarray, rect=(-1.0, -1.0, 1.0, 1.0), bgr: bool = True,
                   slot: str = "camera") -> None:
        """Draw an image (H, W, 3) uint8 into ``rect`` (NDC x0, y0, x1, y1).

        Each ``slot`` keeps its own texture, re-made only when the image size changes."""
        h, w = frame.shape[:2]
        tex = self._image_tex.get(slot)
        if tex is None or tex.size != (w, h):
            if tex is not None:
                tex.release()
            tex = self._image_tex[slot] = self.ctx.texture((w, h), 3, alignment=1)
        tex.write(np.ascontiguousarray(frame[..., :3]).tobytes())
        self.ctx.disable(moderngl.DEPTH_TEST)
        self.ctx.disable(moderngl.BLEND)
        tex.use(location=2)
        self.prog_quad["image"].value = 2
        self.prog_quad["rect"].value = tuple(rect)
        self.prog_quad["bgr"].value = bgr
        self._quad_vao.render(moderngl.TRIANGLE_STRIP)

    def draw_overlay(self, points: np.ndarray, colors: np.ndarray, mvp: np.ndarray, mode=moderngl.LINES,
                     size: float = 6.0, depth: bool = False) -> None:
        """Lines or points: ``points`` (N, 3), ``colors`` (N, 4) 0..1."""
        data = np.concatenate([np.asarray(points, "f4"), np.asarray(colors, "f4")], axis=1)[:MAX_OVERLAY_VERTICES]
        self._overlay_vbo.write(data.tobytes())
        (self.ctx.enable if depth else self.ctx.disable)(moderngl.DEPTH_TEST)
        self.ctx.enable(moderngl.PROGRAM_POINT_SIZE)
        self.prog_lines["mvp"].write(_mat(mvp))
        self.prog_lines["point_size"].value = size
        self._overlay_vao.render(mode, vertices=len(data))

    def draw_skeleton_2d(self, joints_2d: np.ndarray, image_size: tuple[int, int], rect=(-1, -1, 1, 1),
                         color=(0.1, 1.0, 0.3, 1.0)) -> None:
        """Our 2D skeleton (16, 2) in image pixels, over an image drawn in ``rect``."""
        w, h = image_size
        x0, y0, x1, y1 = rect
        j = np.asarray(joints_2d, dtype=np.float64)
        ndc = np.stack([x0 + (j[:, 0] + 0.5) / w * (x1 - x0), y1 - (j[:, 1] + 0.5) / h * (y1 - y0),
                        np.zeros(len(j))], 1)
        self._draw_bones(ndc, np.eye(4), color)

    def draw_skeleton_3d(self, joints: np.ndarray, view, proj, color=(1.0, 0.8, 0.1, 1.0)) -> None:
        """Our 3D skeleton (16, 3), world axes, drawn over the scene."""
        self._draw_bones(np.asarray(joints, float), proj @ view, color)

    def _draw_bones(self, pts: np.ndarray, mvp: np.ndarray, color) -> None:
        seg = pts[S.BONES.reshape(-1)]
        cols = np.tile(color, (len(seg), 1))
        left = np.array([S.BONE_NAMES[b].startswith("l_") for b in range(S.NUM_BONES)]).repeat(2)
        cols[left, :3] = cols[left, :3] * 0.55 + np.array([0.0, 0.25, 0.45])  # left side bluish
        self.draw_overlay(seg, cols, mvp, moderngl.LINES)
        self.draw_overlay(pts, np.tile(color, (len(pts), 1)), mvp, moderngl.POINTS, 5.0)

    def render(self, frame: np.ndarray | None = None, joints_2d: np.ndarray | None = None,
               joints_3d_world: np.ndarray | None = None, layout: str = "auto",
               hud: np.ndarray | None = None) -> None:
        """One frame: camera view (with 2D skeleton) beside the avatar, or the avatar alone;
        ``hud`` (an RGB/BGR image) is drawn 1:1 in the top-left corner."""
        self._clear()
        side = frame is not None and layout in ("auto", "side")
        w, h = self.width, self.height
        if side:
            fh, fw = frame.shape[:2]
            half = w // 2
            # keep the camera image's aspect inside the left half
            s = min(half / fw, h / fh)
            pw, ph = fw * s / w * 2, fh * s / h * 2
            cx = -0.5
            rect = (cx - pw / 2, -ph / 2, cx + pw / 2, ph / 2)
            self.draw_image(frame, rect)
            if joints_2d is not None:
                self.draw_skeleton_2d(joints_2d, (fw, fh), rect)
            viewport, aspect = (half, 0, w - half, h), (w - half) / h
        else:
            viewport, aspect = (0, 0, w, h), w / h
        top = 0.0 if side or hud is None else min(0.5, hud.shape[0] / h)  # the HUD's share of the view's top
        self._update_view(aspect, top)
        view, proj = self.camera.view(), self.camera.projection(aspect)
        if top and self.camera.auto_fit:
            proj[1, 2] += top  # the view's centre moves down to the middle of the space below the HUD
        if self.avatar is not None and self.show_floor:
            self.ctx.viewport = viewport
            self.draw_floor(view, proj)
        if self.avatar is not None:
            self.draw_avatar(view, proj, viewport)
        if joints_3d_world is not None:
            self.ctx.viewport = viewport
            self.draw_skeleton_3d(joints_3d_world, view, proj)
        self.ctx.viewport = (0, 0, w, h)
        if hud is not None:
            hh, hw = hud.shape[:2]
            self.draw_image(hud, (-1.0, 1.0 - 2.0 * hh / h, -1.0 + 2.0 * hw / w, 1.0), slot="hud")

    def read(self, components: int = 3) -> np.ndarray:
        """The current frame as an image (H, W, components) uint8, rows top to bottom (RGB)."""
        data = self.target.read(viewport=(0, 0, self.width, self.height), components=components)
        img = np.frombuffer(data, np.uint8).reshape(self.height, self.width, components)
        return np.ascontiguousarray(img[::-1])

    # ------------------------------------------------------------------ testing aid

    def skin_on_gpu(self, matrices: np.ndarray) -> np.ndarray:
        """Skinned vertex positions read back by transform feedback: (V, 3) float32."""
        if self._prog_tf is None:
            self._prog_tf = self.ctx.program(vertex_shader=load_shader("skin.vert"), varyings=["v_world"])
        if self._vao_tf is None:  # per avatar
            self._vao_tf = self.ctx.vertex_array(self._prog_tf, self._content, skip_errors=True)
        self.write_bones(matrices)
        self.target.use()  # with EGL, nothing is drawn (not even feedback) without a bound framebuffer
        self._bone_tex.use(location=0)
        self._prog_tf["bone_tex"].value = 0
        self._prog_tf["model"].write(_mat(np.eye(4)))
        self._prog_tf["view_proj"].write(_mat(np.eye(4)))
        n = len(self.avatar.positions)
        out = self.ctx.buffer(reserve=n * 12)
        self._vao_tf.transform(out, mode=moderngl.POINTS, vertices=n)
        res = np.frombuffer(out.read(), "f4").reshape(n, 3).copy()
        out.release()
        return res

    def close(self) -> None:
        """Release the OpenGL context and everything made in it."""
        self.ctx.release()
