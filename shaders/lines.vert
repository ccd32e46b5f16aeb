#version 330
// Skeleton overlay: lines and points, in 3D (mvp = camera) or 2D (mvp = NDC mapping).
in vec3 in_position;
in vec4 in_color;
uniform mat4 mvp;
uniform float point_size;
out vec4 v_color;

void main() {
    v_color = in_color;
    gl_Position = mvp * vec4(in_position, 1.0);
    gl_PointSize = point_size;
}
