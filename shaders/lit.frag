#version 330
// Per-vertex colour times an optional base-colour texture, one directional
// light plus ambient, two-sided.
in vec3 v_world;
in vec3 v_normal;
in vec4 v_color;
in vec2 v_uv;

uniform sampler2D base_tex;
uniform bool use_texture;
uniform vec3 light_dir;     // direction the light travels, world axes
uniform vec3 light_color;
uniform vec3 ambient;

out vec4 f_color;

void main() {
    vec4 base = v_color;
    if (use_texture) {
        base *= texture(base_tex, v_uv);
    }
    vec3 n = normalize(v_normal);
    if (!gl_FrontFacing) {
        n = -n;
    }
    float diffuse = max(dot(n, -normalize(light_dir)), 0.0);
    f_color = vec4(base.rgb * (ambient + light_color * diffuse), base.a);
}
