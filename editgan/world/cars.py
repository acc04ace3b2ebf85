"""Cars: the side view of a car on a road, drawn from 20 named parameters, with an exact part map.

The car faces right and fills most of the frame width. The parts that edits target are
large and high-contrast: near-black tyres around light rims, glass that differs from the
paint, bright head- and tail-lights. Every parameter is ground truth for one thing: a
parameter changes only the part its name says (the wheel size changes the tyres, rims and
the arches cut around them; the paint changes only the body; the horizon only where the
sky meets the road). Sky and road gradients are in frame coordinates for that reason.
"""

from __future__ import annotations

import torch

from .base import Canvas, Parameter, PartClass, World, box, col, convex, ellipse, mix, palette_lerp, shade

GROUND = 0.66  # y where the tyres touch the road (y grows downwards)
CLEARANCE = 0.10  # height of the sills above the road
ARCH_GAP = 0.03  # gap between a tyre and its wheel arch
WINDSCREEN_BASE = 0.72  # where the windscreen meets the bonnet, fraction of the body length
CABIN_BASE = 0.05  # where the rear pillar meets the body, fraction of the body length
SKY = [(255, 170, 125), (245, 205, 185), (170, 210, 240), (95, 160, 230), (120, 120, 215)]


def hsl(h: torch.Tensor, s: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """HSL (each (N,) in [0, 1]) -> RGB (N, 3) in [0, 1], continuous and periodic in h."""
    k = torch.stack([(h * 12) % 12, (8 + h * 12) % 12, (4 + h * 12) % 12], 1)
    a = (s * torch.minimum(l, 1 - l))[:, None]
    return l[:, None] - a * torch.clamp(torch.minimum(k - 3, 9 - k), -1, 1)


class Cars(World):
    name = "cars"
    classes = (
        PartClass("sky", (120, 190, 255)),
        PartClass("road", (90, 90, 90)),
        PartClass("body", (230, 40, 40)),
        PartClass("windows", (0, 220, 220)),
        PartClass("tyres", (20, 20, 20)),
        PartClass("rims", (255, 220, 0)),
        PartClass("lights", (255, 0, 255)),
    )
    parameters = (
        Parameter("body_length", 1.66, 1.86, "length of the body (the frame is 2 wide)"),
        Parameter("body_height", 0.40, 0.48, "height of the lower body, from the sills to the waist line"),
        Parameter("roof_height", 0.24, 0.34, "height of the roof above the waist line"),
        Parameter("roof_start", 0.16, 0.32, "rear end of the roof, fraction of the body length from the back (sets the rear-window rake)"),
        Parameter("roof_end", 0.48, 0.60, "front end of the roof, fraction of the body length from the back (sets the windscreen rake)"),
        Parameter("body_hue", 0.0, 1.0, "hue of the paint (periodic)"),
        Parameter("body_saturation", 0.35, 0.85, "saturation of the paint"),
        Parameter("body_lightness", 0.0, 1.0, "lightness of the paint, dark (0) to light (1)"),
        Parameter("window_tint", 0.0, 1.0, "glass from clear pale blue (0) to dark tinted (1)"),
        Parameter("wheel_size", 0.15, 0.19, "tyre radius (the wheel arches follow)"),
        Parameter("rim_size", 0.50, 0.75, "rim radius as a fraction of the tyre radius"),
        Parameter("rim_style", 0.0, 1.0, "rim look: plain silver disc (0) to five dark-gapped spokes (1)"),
        Parameter("wheelbase", 0.90, 1.02, "distance between the wheel centres"),
        Parameter("light_size", 0.0, 1.0, "size of the head- and tail-lights"),
        Parameter("sky_hue", 0.0, 1.0, "sky colour: warm dusk (0), pale (0.25), light blue (0.5), blue (0.75), violet (1)"),
        Parameter("sky_brightness", 0.0, 1.0, "sky brightness"),
        Parameter("horizon", -0.20, 0.16, "height of the far edge of the road (frame y, down is positive)"),
        Parameter("road_lightness", 0.0, 1.0, "road brightness, dark asphalt (0) to pale concrete (1)"),
        Parameter("car_x", -0.05, 0.05, "horizontal offset of the whole car"),
        Parameter("light_x", -1.0, 1.0, "side the car is lit from: left (-1) or right (1)"),
    )

    def draw(self, c: Canvas, p: dict[str, torch.Tensor]) -> None:
        L = {cls.name: i for i, cls in enumerate(self.classes)}
        n, x, y = c.n, c.row[None], c.column[None]  # x: (1, 1, W), y: (1, H, 1)
        light = p["light_x"]
        everywhere = torch.ones(n, 1, 1, dtype=torch.bool)

        # sky: one hue, darker at the top, hazier towards the bottom of the frame
        sky = palette_lerp(SKY, p["sky_hue"]) * (0.60 + 0.45 * p["sky_brightness"])[:, None]
        haze = ((y + 1) / 2).clamp(0, 1)[:, None]  # 0 at the top of the frame, 1 at the bottom
        sky_rgb = sky[:, :, None, None] * (0.80 + 0.25 * haze) + 0.18 * haze
        c.paint(everywhere, sky_rgb, L["sky"])

        # road: below the horizon, lighter far away, with the car's shadow on it
        road = mix([0.16, 0.16, 0.18], [0.62, 0.60, 0.56], p["road_lightness"])
        road_rgb = road[:, :, None, None] * (1.15 - 0.25 * ((y - 0.0) / 1.0).clamp(0, 1))[:, None]
        c.paint(y > col(p["horizon"]), road_rgb, L["road"])

        cx, length = p["car_x"], p["body_length"]
        x0, x1 = cx - length / 2, cx + length / 2
        bottom = torch.full((n,), GROUND - CLEARANCE)
        top = bottom - p["body_height"]
        roof = top - p["roof_height"]
        radius = p["wheel_size"]
        wheel_y = GROUND - radius
        wheels = [cx - p["wheelbase"] / 2, cx + p["wheelbase"] / 2]

        # the shade under the car (seen under the sills and inside the wheel arches)
        under = box(c, x0 + 0.03, GROUND - 0.42, x1 - 0.03, GROUND) | ellipse(c, cx, GROUND, length / 2 + 0.03, 0.035)
        c.paint(under, road_rgb * 0.45, L["road"])

        # body: the lower body (a rounded convex polygon, the bonnet sloping a little to the nose)
        # and the cabin on top of it, minus the wheel arches
        ws = x0 + WINDSCREEN_BASE * length
        lower = convex(c, [(x0, bottom), (x0, top + 0.03), (ws, top), (x1, top + 0.02), (x1, bottom)], radius=0.05)
        rear_base, roof_rear, roof_front = (x0 + f * length for f in (CABIN_BASE, p["roof_start"], p["roof_end"]))
        cabin_pts = [(rear_base, top + 0.06), (roof_rear, roof), (roof_front, roof), (ws, top + 0.06)]
        cabin = convex(c, cabin_pts, radius=0.05)
        arches = ellipse(c, wheels[0], wheel_y, radius + ARCH_GAP, radius + ARCH_GAP)
        arches = arches | ellipse(c, wheels[1], wheel_y, radius + ARCH_GAP, radius + ARCH_GAP)
        body = (lower | cabin) & ~arches

        paint = hsl(p["body_hue"], p["body_saturation"], 0.22 + 0.50 * p["body_lightness"])
        rel = (y - col(top)) / col(p["body_height"])  # 0 at the waist line, 1 at the sills
        gloss = 1.10 - 0.22 * rel.clamp(-1, 1) + 0.18 * torch.exp(-(((y - col(top) - 0.06) / 0.03) ** 2))
        body_rgb = shade(c, paint, light, 0.22) * gloss[:, None]
        sill = y > col(bottom - 0.045)
        body_rgb = torch.where(sill[:, None], body_rgb * 0.62, body_rgb)
        c.paint(body, body_rgb, L["body"])

        # bumpers: dark strips at both ends, part of the body
        bumpers = box(c, x1 - 0.18, bottom - 0.08, x1 + 0.01, bottom - 0.01, 0.03)
        bumpers = (bumpers | box(c, x0 - 0.01, bottom - 0.08, x0 + 0.16, bottom - 0.01, 0.03)) & body
        c.paint(bumpers, torch.full((n, 3), 0.16), L["body"])

        # windows: the cabin inset by a frame, above the waist line, split by the B-pillar
        frame = 0.035
        pillar = 0.5 * (roof_rear + roof_front) + 0.02
        inset = [(rear_base + 0.045, top + 0.06), (roof_rear, roof + frame), (roof_front, roof + frame), (ws - 0.05, top + 0.06)]
        glass = convex(c, inset, radius=0.03) & (y < col(top - 0.02)) & ((x - col(pillar)).abs() > 0.028)
        glass_col = mix([0.66, 0.80, 0.92], [0.10, 0.13, 0.19], p["window_tint"])
        streak = ((x - col(cx) + 0.6 * (y - col(roof)) - 0.22).abs() < 0.05).float()
        glass_rgb = shade(c, glass_col, light, 0.15) * (1.18 - 0.35 * ((y - col(roof)) / 0.3).clamp(0, 1))[:, None]
        glass_rgb = glass_rgb + 0.12 * streak[:, None]
        c.paint(glass, glass_rgb, L["windows"])

        # lights: a headlight at the nose, a tail-light at the back, hung from the waist line.
        # They are clipped to the body outside the largest arches at any wheelbase, so that
        # neither the wheel size nor the wheelbase ever changes the lights.
        lw = 0.16 + 0.14 * p["light_size"]  # width
        lh = 0.085 + 0.04 * p["light_size"]  # height
        head = box(c, x1 - lw, top + 0.04, x1 + 0.02, top + 0.04 + lh, lh * 0.35)
        tail = box(c, x0 - 0.02, top + 0.05, x0 + 0.8 * lw, top + 0.05 + lh, lh * 0.3)
        keep = lower & ~self._arch_zone(c, cx, margin=0.035)
        head, tail = head & keep, tail & keep
        c.paint(head, torch.tensor([1.0, 0.96, 0.72]).expand(n, 3), L["lights"])
        c.paint(tail, torch.tensor([0.95, 0.10, 0.08]).expand(n, 3), L["lights"])

        # wheels: near-black tyres, light rims whose spokes darken with rim_style. Both wheels
        # at once: each pixel is measured from the nearer wheel centre (thin row and column
        # tensors keep most of the arithmetic off the full grid)
        dx = x - torch.where(x < col(cx), col(wheels[0]), col(wheels[1]))
        dy = y - col(wheel_y)
        r = torch.sqrt(dx**2 + dy**2).clamp(min=1e-6)
        c.paint(r <= col(radius), torch.full((n, 3), 0.085), L["tyres"])
        rr = r / col(radius * p["rim_size"])
        u = dx / r
        u2 = u * u
        cos5 = u * (16 * u2 * u2 - 20 * u2 + 5)  # cos(5 * angle): five spokes
        gaps = ((rr > 0.30) & (rr < 0.84)) * (1 - ((cos5 - 0.35) * 3).clamp(0, 1))
        look = 1 - col(0.80 * p["rim_style"]) * gaps - 0.45 * (rr < 0.14) - 0.12 * ((rr - 0.92).abs() < 0.04)
        rim_rgb = shade(c, torch.tensor([0.80, 0.81, 0.84]).expand(n, 3), light, 0.25)
        c.paint(rr <= 1, rim_rgb * look[:, None], L["rims"])

    def _arch_zone(self, c: Canvas, cx: torch.Tensor, margin: float) -> torch.Tensor:
        """Everything any wheel arch can cut, over the whole range of wheel size and wheelbase,
        grown by `margin` (so that no output pixel of 64 px or more mixes a light with an arch).

        Arches of smaller wheels lie inside the largest one (all touch the road at the same
        point), so the union is two capsules: the largest arch swept along the wheel's range.
        """
        r_max = self.parameters[self.index("wheel_size")].high
        wb = self.parameters[self.index("wheelbase")]
        x, y = c.row[None], c.column[None]
        zone = torch.zeros(c.n, c.size, c.size, dtype=torch.bool)
        for side in (-1.0, 1.0):
            a, b = col(cx + side * wb.low / 2), col(cx + side * wb.high / 2)
            dx = x - torch.minimum(torch.maximum(x, torch.minimum(a, b)), torch.maximum(a, b))
            zone = zone | (dx**2 + (y - (GROUND - r_max)) ** 2 <= (r_max + ARCH_GAP + margin) ** 2)
        return zone
