#version 330
// Linear blend skinning on the GPU. Bone matrices live in a float texture
// (4 texels per matrix, one row per bone), so any number of bones fits.
in vec3 in_position;
in vec3 in_normal;
in vec4 in_color;
in vec2 in_uv;
in vec4 in_joints;   // joint indices, exact as floats below 2^24
in vec4 in_weights;

uniform sampler2D bone_tex;
uniform mat4 model;
uniform mat4 view_proj;

out vec3 v_world;
out vec3 v_normal;
out vec4 v_color;
out vec2 v_uv;

mat4 bone(float index) {
    int i = int(index + 0.5);
    return mat4(texelFetch(bone_tex, ivec2(0, i), 0),
                texelFetch(bone_tex, ivec2(1, i), 0),
                texelFetch(bone_tex, ivec2(2, i), 0),
                texelFetch(bone_tex, ivec2(3, i), 0));
}

void main() {
    mat4 skin = in_weights.x * bone(in_joints.x) + in_weights.y * bone(in_joints.y)
              + in_weights.z * bone(in_joints.z) + in_weights.w * bone(in_joints.w);
    vec4 world = model * skin * vec4(in_position, 1.0);
    v_world = world.xyz;
    v_normal = mat3(model) * mat3(skin) * in_normal;
    v_color = in_color;
    v_uv = in_uv;
    gl_Position = view_proj * world;
}
