"""Procedural worlds: images with exact part labels, drawn from named parameters."""

from .base import Canvas, Parameter, PartClass, World


def get_world(name: str) -> World:
    """The world called `name` ("faces" or "cars")."""
    if name == "faces":
        from .faces import Faces

        return Faces()
    if name == "cars":
        from .cars import Cars

        return Cars()
    raise ValueError(f"unknown world {name!r}: expected 'faces' or 'cars'")


__all__ = ["Canvas", "Parameter", "PartClass", "World", "get_world"]
