"""Rig spaces, mappings between them, and the blendshape solver (numpy/scipy only)."""
