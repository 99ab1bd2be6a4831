"""Baselines of serial-crystallography (SFX) hit finding."""
