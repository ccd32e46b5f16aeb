"""The animation layer, under both the app and the trainer: the avatar and its retargeting
(``avatar``), the glTF/VRM reader (``gltf``), the BVH file format (``bvh``) and BVH clips onto
our skeleton (``bvh_retarget``), the ModernGL renderer (``render``), the window (``window``)
and the 2D skeleton overlay (``overlay``). It imports only ``engine`` (docs/architecture.md)."""
