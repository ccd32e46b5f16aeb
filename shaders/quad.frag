#version 330
in vec2 v_uv;
uniform sampler2D image;
uniform bool bgr;       // OpenCV frames are BGR
out vec4 f_color;

void main() {
    vec4 c = texture(image, v_uv);
    f_color = vec4(bgr ? c.bgr : c.rgb, 1.0);
}
