"""Pixel geometry and detector maths shared by the face and hand pipelines (numpy + Pillow)."""
