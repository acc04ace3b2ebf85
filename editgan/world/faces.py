"""Faces: a frontal portrait drawn from 27 named parameters, with an exact part map.

The crop is tight (the head fills the frame) and the parts that edits target are large
and high-contrast: a wide mouth with saturated lips and a near-black lip line, a dark
mouth inside, teeth shown whenever the face smiles, thick dark eyebrows. A 64-px
generator learns such parts within minutes (shared notes, second experiment).
"""

from __future__ import annotations

import math

import torch

from .base import Canvas, Parameter, PartClass, World, col, ellipse, palette_lerp, shade

SKIN = [(255, 226, 200), (236, 190, 152), (200, 142, 102), (145, 90, 58), (92, 58, 38)]
HAIR = [(22, 18, 16), (62, 42, 30), (112, 76, 46), (170, 96, 50), (218, 182, 112), (160, 158, 155)]
IRIS = [(80, 45, 22), (120, 85, 40), (60, 125, 70), (55, 110, 175), (125, 135, 145)]


def hsv(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """HSV (each (N,) in [0, 1]) -> RGB (N, 3) in [0, 1], continuous in h."""
    k = torch.stack([(5 + h * 6) % 6, (3 + h * 6) % 6, (1 + h * 6) % 6], 1)
    f = torch.clamp(torch.minimum(k, 4 - k), 0, 1)
    return v[:, None] * (1 - s[:, None] * f)


class Faces(World):
    name = "faces"
    classes = (
        PartClass("background", (0, 0, 0)),
        PartClass("skin", (255, 204, 153)),
        PartClass("hair", (140, 70, 20)),
        PartClass("ears", (255, 140, 200)),
        PartClass("eyebrows", (110, 50, 170)),
        PartClass("eye_whites", (255, 255, 255)),
        PartClass("irises", (0, 110, 255)),
        PartClass("nose", (255, 130, 0)),
        PartClass("lips", (225, 0, 30)),
        PartClass("mouth", (80, 0, 50)),
        PartClass("teeth", (255, 240, 0)),
    )
    parameters = (
        Parameter("head_width", 0.70, 0.86, "half-width of the head (frame half-width = 1)"),
        Parameter("head_height", 0.94, 1.06, "half-height of the head"),
        Parameter("jaw", 0.0, 1.0, "chin shape: 0 round, 1 narrow"),
        Parameter("skin_tone", 0.0, 1.0, "skin colour from light (0) to dark (1)"),
        Parameter("skin_warmth", 0.0, 1.0, "skin colour from cool (0) to warm (1)"),
        Parameter("hair_color", 0.0, 1.0, "black, dark brown, brown, auburn, blonde, grey"),
        Parameter("hair_length", 0.0, 1.0, "0 ends at the ears, 1 reaches the bottom of the frame"),
        Parameter("hair_volume", 0.0, 1.0, "how far the hair stands out around the head"),
        Parameter("hairline", 0.0, 1.0, "0 high forehead, 1 low fringe"),
        Parameter("background_hue", 0.0, 1.0, "background hue"),
        Parameter("background_lightness", 0.0, 1.0, "background brightness"),
        Parameter("eye_size", 0.0, 1.0, "eye size"),
        Parameter("eye_spacing", 0.0, 1.0, "distance between the eyes"),
        Parameter("eye_height", 0.0, 1.0, "0 eyes high on the face, 1 low"),
        Parameter("iris_color", 0.0, 1.0, "brown, hazel, green, blue, grey"),
        Parameter("gaze", -1.0, 1.0, "irises look left (-1) or right (1)"),
        Parameter("eyebrow_height", 0.0, 1.0, "gap between eyebrows and eyes: 0 low, 1 raised"),
        Parameter("eyebrow_angle", -1.0, 1.0, "inner ends lowered (-1, stern) or raised (1, worried)"),
        Parameter("eyebrow_thickness", 0.0, 1.0, "eyebrow thickness"),
        Parameter("nose_length", 0.0, 1.0, "nose length"),
        Parameter("nose_width", 0.0, 1.0, "nose width"),
        Parameter("mouth_width", 0.0, 1.0, "mouth width"),
        Parameter("lip_thickness", 0.0, 1.0, "lip thickness"),
        Parameter("smile", -1.0, 1.0, "frown (-1) to smile (1); smiling lifts the corners and opens the mouth on the teeth"),
        Parameter("ear_size", 0.0, 1.0, "ear size"),
        Parameter("light_direction", -1.0, 1.0, "light from the left (-1) or the right (1)"),
        Parameter("texture", 0.0, 1.0, "phase of the skin and hair texture"),
    )

    def draw(self, c: Canvas, p: dict[str, torch.Tensor]) -> None:
        L = {cls.name: i for i, cls in enumerate(self.classes)}
        n, x, y = c.n, c.x[None], c.y[None]
        light = p["light_direction"]
        phase = 2 * math.pi * p["texture"]

        # background: a vertical gradient of one hue
        bg = hsv(p["background_hue"], torch.full((n,), 0.35), 0.30 + 0.55 * p["background_lightness"])
        grad = (1.0 - 0.25 * (y + 1) / 2)[:, None]
        c.paint(torch.ones(n, c.size, c.size, dtype=torch.bool), bg[:, :, None, None] * grad, L["background"])

        hw, hh = p["head_width"], p["head_height"]
        cy = torch.full((n,), 0.12)
        hair_rgb = palette_lerp(HAIR, p["hair_color"])
        stripes = (1 + 0.10 * torch.sin(14 * x + 3 * y + col(phase)))[:, None]
        hair_tex = shade(c, hair_rgb, light, 0.35) * stripes

        # hair behind the head: a big ellipse cut at the hair length
        hair_bottom = -0.15 + 1.35 * p["hair_length"]
        back = ellipse(c, 0.0, cy - 0.08, hw + 0.06 + 0.20 * p["hair_volume"], hh + 0.02 + 0.10 * p["hair_volume"])
        c.paint(back & (y < col(hair_bottom)), hair_tex, L["hair"])

        # ears, drawn before the head so that the head overlaps their inner half
        eye_y = cy - 0.14 + 0.12 * (p["eye_height"] - 0.5)
        ear_rx, ear_ry = 0.09 + 0.05 * p["ear_size"], 0.15 + 0.06 * p["ear_size"]
        skin = palette_lerp(SKIN, p["skin_tone"])
        skin = (skin + 0.06 * (p["skin_warmth"] - 0.5)[:, None] * torch.tensor([1.0, 0.0, -1.0])).clamp(0, 1)
        skin_tex = shade(c, skin, light, 0.30) * (1 + 0.03 * torch.sin(9 * x + col(phase)) * torch.sin(7 * y - col(phase)))[:, None]
        for side in (-1.0, 1.0):
            ear = ellipse(c, side * (hw * 0.97), eye_y + 0.14, ear_rx, ear_ry)
            c.paint(ear, skin_tex * 0.9, L["ears"])

        # head: an ellipse whose lower half narrows towards the chin
        taper = 1.0 - 0.28 * col(p["jaw"]) * ((y - col(cy)).clamp(min=0) / col(hh)) ** 2
        head = ((x / (col(hw) * taper)) ** 2 + ((y - col(cy)) / col(hh)) ** 2) <= 1.0
        c.paint(head, skin_tex, L["skin"])

        # hair over the forehead, above a curved hairline (always above the eyebrows)
        line = -0.74 + 0.30 * col(p["hairline"]) + 0.30 * (x / col(hw)) ** 2
        c.paint(head & (y < line), hair_tex, L["hair"])

        # eyes: whites, irises (with a dark pupil), clipped to the white
        eye_dx = (0.25 + 0.09 * p["eye_spacing"]) * hw / 0.72
        erx, ery = 0.13 + 0.06 * p["eye_size"], 0.065 + 0.04 * p["eye_size"]
        iris_rgb = palette_lerp(IRIS, p["iris_color"])
        brow_rgb = hair_rgb * 0.55
        for side in (-1.0, 1.0):
            ex = side * eye_dx
            white = ellipse(c, ex, eye_y, erx, ery)
            c.paint(white, torch.tensor([0.96, 0.95, 0.93]).expand(n, 3), L["eye_whites"])
            ix = ex + 0.45 * erx * p["gaze"]
            iris = ellipse(c, ix, eye_y, 0.92 * ery, 0.92 * ery) & white
            c.paint(iris, iris_rgb, L["irises"])
            pupil = ellipse(c, ix, eye_y, 0.40 * ery, 0.40 * ery) & white
            c.paint(pupil, torch.full((n, 3), 0.05), L["irises"])

            # eyebrow: a thick, tilted bar above the eye
            by = eye_y - ery - 0.07 - 0.10 * p["eyebrow_height"]
            thick = 0.028 + 0.030 * p["eyebrow_thickness"]
            tilt = side * 0.30 * p["eyebrow_angle"]
            brow = ellipse(c, ex, by, erx * 1.25, thick, angle=tilt)
            c.paint(brow, brow_rgb, L["eyebrows"])

        # nose: a bridge and a rounded tip, a little darker than the skin
        tip_y = cy + 0.16 + 0.12 * p["nose_length"]
        nrx = 0.07 + 0.05 * p["nose_width"]
        bridge = (x.abs() < 0.035) & (y > col(eye_y + 0.04)) & (y < col(tip_y))
        tip = ellipse(c, 0.0, tip_y, nrx, 0.055)
        c.paint(bridge | tip, skin_tex * 0.80, L["nose"])
        for side in (-1.0, 1.0):
            nostril = ellipse(c, side * nrx * 0.45, tip_y + 0.02, 0.022, 0.016)
            c.paint(nostril, skin_tex * 0.45, L["nose"])

        # mouth: a centre line that bends with the smile, an opening that shows the teeth
        my = tip_y + 0.19 + 0.05 * (1 - p["nose_length"])
        mw = 0.26 + 0.12 * p["mouth_width"]
        smile = p["smile"]
        u = x / col(mw)
        env = (1 - u**2).clamp(min=0)
        inside_x = u.abs() < 1
        centre = col(my) + 0.09 * col(smile) * env - 0.02 * col(smile)
        opening = (0.015 + 0.15 * col(smile.clamp(min=0))) * env.sqrt()
        upper, lower = centre - 0.35 * opening, centre + 0.65 * opening
        lip = (0.030 + 0.030 * col(p["lip_thickness"])) * env.pow(0.35)
        lips = inside_x & (y > upper - lip) & (y < lower + 1.15 * lip)
        lip_rgb = (0.55 * skin + 0.45 * torch.tensor([0.62, 0.12, 0.16])).clamp(0, 1) * 0.95
        c.paint(lips, shade(c, lip_rgb, light, 0.2), L["lips"])
        mouth = inside_x & (y > upper) & (y < lower)
        c.paint(mouth, torch.tensor([0.16, 0.03, 0.05]).expand(n, 3), L["mouth"])
        teeth = mouth & (y < upper + 0.6 * (opening - 0.03).clamp(min=0)) & (u.abs() < 0.8)
        c.paint(teeth, torch.tensor([0.95, 0.93, 0.86]).expand(n, 3), L["teeth"])
