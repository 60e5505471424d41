"""Bundled data (exemplar textures)."""
