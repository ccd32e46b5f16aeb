"""Motion-capture clips from outside sources, retargeted onto our skeleton."""
