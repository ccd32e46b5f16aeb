#version 330
// A textured rectangle (the camera preview), corners given in NDC.
in vec2 in_corner;      // (0,0) .. (1,1)
uniform vec4 rect;      // x0, y0, x1, y1 in NDC
out vec2 v_uv;

void main() {
    v_uv = vec2(in_corner.x, 1.0 - in_corner.y);   // image rows run top to bottom
    gl_Position = vec4(mix(rect.xy, rect.zw, in_corner), 0.0, 1.0);
}
