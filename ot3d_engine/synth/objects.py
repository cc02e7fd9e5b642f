"""Procedural furniture and small objects, each one instance made of several parts.

Local frame of every object: origin on its support surface at the footprint centre,
+z up, +y its front (a chair faces +y, a sofa's back is at -y). Sizes are drawn from
real-world ranges so the scenes look like ScanNet rooms to a geometry-based segmenter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

Colour = tuple[int, int, int]


@dataclass
class Part:
    shape: str  # "box" (size = sx, sy, sz; offset = centre) | "frustum" (r_bottom, r_top, h; offset = base centre) | "sphere" (r,; centre)
    size: tuple[float, ...]
    offset: tuple[float, float, float]
    colour: Colour | None = None  # None: the object's colour


@dataclass
class ObjectSpec:
    class_name: str
    parts: list[Part]
    half_extent: tuple[float, float]  # footprint half sizes along local x, y
    height: float
    colour: Colour
    spacing: float  # mesh vertex spacing (m)
    top: tuple[float, float, float] | None = None  # support surface for small objects: half x, half y, z

    @property
    def is_round(self) -> bool:
        return all(p.shape != "box" for p in self.parts)


@dataclass
class SceneObject:
    spec: ObjectSpec
    position: np.ndarray  # world xyz of the local origin
    yaw: float  # rotation about +z (radians)
    instance_id: int = 0

    def footprint(self) -> np.ndarray:
        """World-space axis-aligned footprint (xmin, ymin, xmax, ymax) for collision tests."""
        hx, hy = self.spec.half_extent
        c, s = abs(np.cos(self.yaw)), abs(np.sin(self.yaw))
        ex, ey = hx * c + hy * s, hx * s + hy * c
        x, y = self.position[:2]
        return np.array([x - ex, y - ey, x + ex, y + ey])


PALETTES: dict[str, list[Colour]] = {
    "table": [(140, 95, 60), (172, 128, 82), (92, 62, 42), (222, 222, 216)],
    "chair": [(58, 58, 64), (150, 100, 62), (176, 44, 42), (44, 82, 140)],
    "cabinet": [(205, 192, 168), (122, 82, 52), (232, 232, 230)],
    "bookshelf": [(112, 76, 46), (228, 228, 224), (70, 70, 74)],
    "sofa": [(92, 102, 124), (142, 132, 120), (72, 112, 82), (152, 62, 52)],
    "bed": [(128, 88, 58), (200, 200, 196)],
    "cup": [(240, 240, 238), (200, 62, 50), (62, 92, 162)],
    "bottle": [(62, 142, 82), (82, 122, 202), (228, 228, 226)],
    "book": [(170, 40, 40), (40, 70, 150), (50, 130, 70), (220, 180, 40)],
    "box": [(190, 150, 102), (176, 138, 92)],
    "lamp": [(62, 62, 62), (190, 170, 120)],
    "trash can": [(72, 72, 72), (200, 200, 200), (62, 122, 182)],
    "bowl": [(232, 232, 226), (182, 92, 62)],
}


def jitter(colour: Colour, rng: np.random.Generator, amount: int = 8) -> Colour:
    c = np.clip(np.asarray(colour) + rng.integers(-amount, amount + 1, 3), 0, 255)
    return tuple(int(v) for v in c)


def pick_colour(name: str, rng: np.random.Generator) -> Colour:
    palette = PALETTES[name]
    return jitter(palette[int(rng.integers(len(palette)))], rng)


def _u(rng, lo, hi) -> float:
    return float(rng.uniform(lo, hi))


def table(rng, colour=None) -> ObjectSpec:
    w, d, h = _u(rng, 1.0, 1.6), _u(rng, 0.7, 0.9), _u(rng, 0.72, 0.78)
    t, leg, inset = 0.04, 0.05, 0.07
    parts = [Part("box", (w, d, t), (0, 0, h - t / 2))]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(Part("box", (leg, leg, h - t), (sx * (w / 2 - inset), sy * (d / 2 - inset), (h - t) / 2)))
    return ObjectSpec("table", parts, (w / 2, d / 2), h, colour or pick_colour("table", rng), 0.04,
                      top=(w / 2, d / 2, h))


def chair(rng, colour=None) -> ObjectSpec:
    s, h, t, leg = _u(rng, 0.42, 0.48), _u(rng, 0.44, 0.47), 0.04, 0.035
    back_h = _u(rng, 0.38, 0.48)
    parts = [Part("box", (s, s, t), (0, 0, h - t / 2))]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(Part("box", (leg, leg, h - t), (sx * (s / 2 - leg / 2), sy * (s / 2 - leg / 2), (h - t) / 2)))
    parts.append(Part("box", (s, t, back_h), (0, -(s / 2 - t / 2), h + back_h / 2)))
    return ObjectSpec("chair", parts, (s / 2, s / 2), h + back_h, colour or pick_colour("chair", rng), 0.03)


def cabinet(rng, colour=None) -> ObjectSpec:
    w, d, h = _u(rng, 0.8, 1.2), _u(rng, 0.42, 0.55), _u(rng, 0.8, 1.0)
    col = colour or pick_colour("cabinet", rng)
    handle = jitter((150, 150, 155), rng)
    parts = [Part("box", (w, d, h - 0.03), (0, 0, (h - 0.03) / 2)),
             Part("box", (w + 0.02, d + 0.02, 0.03), (0, 0, h - 0.015), jitter(col, rng, 20))]
    for sx in (-1, 1):
        parts.append(Part("box", (0.02, 0.02, 0.12), (sx * 0.05, d / 2 + 0.01, h * 0.7), handle))
    return ObjectSpec("cabinet", parts, (w / 2 + 0.01, d / 2 + 0.02), h, col, 0.04, top=(w / 2, d / 2, h))


def bookshelf(rng, colour=None) -> ObjectSpec:
    w, d, h, t = _u(rng, 0.8, 1.0), _u(rng, 0.3, 0.36), _u(rng, 1.6, 1.9), 0.025
    parts = [Part("box", (t, d, h), (sx * (w / 2 - t / 2), 0, h / 2)) for sx in (-1, 1)]
    parts.append(Part("box", (w - 2 * t, 0.01, h), (0, -(d / 2 - 0.005), h / 2)))
    shelves = int(rng.integers(3, 6))
    for z in np.linspace(0.05, h - t / 2, shelves + 1):
        parts.append(Part("box", (w - 2 * t, d - 0.01, t), (0, 0.005, float(z))))
    return ObjectSpec("bookshelf", parts, (w / 2, d / 2), h, colour or pick_colour("bookshelf", rng), 0.04)


def sofa(rng, colour=None) -> ObjectSpec:
    w, d = _u(rng, 1.8, 2.2), _u(rng, 0.85, 0.95)
    seat_h, back_h, arm_w, back_t = 0.42, _u(rng, 0.75, 0.85), 0.18, 0.2
    col = colour or pick_colour("sofa", rng)
    cushion = jitter(col, rng, 14)
    inner = w - 2 * arm_w
    parts = [Part("box", (w, d, seat_h - 0.1), (0, 0, (seat_h - 0.1) / 2)),
             Part("box", (w, back_t, back_h), (0, -(d / 2 - back_t / 2), back_h / 2))]
    parts += [Part("box", (arm_w, d - back_t, 0.6), (sx * (w / 2 - arm_w / 2), back_t / 2, 0.3)) for sx in (-1, 1)]
    parts += [Part("box", (inner / 2 - 0.01, d - back_t, 0.1), (sx * inner / 4, back_t / 2, seat_h - 0.05), cushion)
              for sx in (-1, 1)]
    return ObjectSpec("sofa", parts, (w / 2, d / 2), back_h, col, 0.05)


def bed(rng, colour=None) -> ObjectSpec:
    w, length = _u(rng, 1.4, 1.7), _u(rng, 1.95, 2.1)
    frame = colour or pick_colour("bed", rng)
    sheet, pillow = jitter((236, 236, 240), rng), jitter((246, 246, 250), rng)
    blanket = jitter(((92, 122, 172), (172, 92, 92), (120, 150, 110))[int(rng.integers(3))], rng)
    parts = [Part("box", (w, length, 0.3), (0, 0, 0.15)),
             Part("box", (w - 0.04, length - 0.08, 0.2), (0, 0.02, 0.4), sheet),
             Part("box", (w - 0.02, length * 0.55, 0.04), (0, length * 0.2, 0.52), blanket),
             Part("box", (w, 0.06, 1.0), (0, -(length / 2 - 0.03), 0.5)),
             Part("box", (w * 0.7, 0.35, 0.1), (0, -(length / 2 - 0.3), 0.55), pillow)]
    return ObjectSpec("bed", parts, (w / 2, length / 2), 1.0, frame, 0.05)


def cup(rng, colour=None) -> ObjectSpec:
    r, h = _u(rng, 0.04, 0.05), _u(rng, 0.09, 0.12)
    parts = [Part("frustum", (r * 0.85, r, h), (0, 0, 0))]
    return ObjectSpec("cup", parts, (r, r), h, colour or pick_colour("cup", rng), 0.015)


def bottle(rng, colour=None) -> ObjectSpec:
    r, h = _u(rng, 0.03, 0.045), _u(rng, 0.18, 0.26)
    col = colour or pick_colour("bottle", rng)
    parts = [Part("frustum", (r, r, h), (0, 0, 0)),
             Part("frustum", (r, 0.014, 0.06), (0, 0, h)),
             Part("frustum", (0.016, 0.016, 0.025), (0, 0, h + 0.06), jitter((40, 40, 40), rng))]
    return ObjectSpec("bottle", parts, (r, r), h + 0.085, col, 0.015)


def book(rng, colour=None) -> ObjectSpec:
    w, d, t = _u(rng, 0.15, 0.24), _u(rng, 0.21, 0.3), _u(rng, 0.025, 0.05)
    parts = [Part("box", (w, d, t), (0, 0, t / 2))]
    return ObjectSpec("book", parts, (w / 2, d / 2), t, colour or pick_colour("book", rng), 0.02)


def box_object(rng, colour=None, large: bool = False) -> ObjectSpec:
    lo, hi = (0.3, 0.5) if large else (0.14, 0.3)
    w, d, h = _u(rng, lo, hi), _u(rng, lo, hi), _u(rng, lo * 0.7, hi)
    parts = [Part("box", (w, d, h), (0, 0, h / 2))]
    return ObjectSpec("box", parts, (w / 2, d / 2), h, colour or pick_colour("box", rng), 0.025,
                      top=(w / 2, d / 2, h))


def lamp(rng, colour=None) -> ObjectSpec:
    stem_h, shade_r = _u(rng, 0.18, 0.26), _u(rng, 0.11, 0.15)
    base = colour or pick_colour("lamp", rng)
    shade = jitter((238, 228, 198), rng)
    parts = [Part("frustum", (0.08, 0.07, 0.03), (0, 0, 0)),
             Part("frustum", (0.012, 0.012, stem_h), (0, 0, 0.03)),
             Part("frustum", (shade_r, shade_r * 0.6, 0.17), (0, 0, 0.03 + stem_h - 0.06), shade)]
    return ObjectSpec("lamp", parts, (shade_r, shade_r), 0.03 + stem_h + 0.11, base, 0.02)


def bowl(rng, colour=None) -> ObjectSpec:
    r, h = _u(rng, 0.07, 0.1), _u(rng, 0.05, 0.08)
    parts = [Part("frustum", (r * 0.55, r, h), (0, 0, 0))]
    return ObjectSpec("bowl", parts, (r, r), h, colour or pick_colour("bowl", rng), 0.015)


def trash_can(rng, colour=None) -> ObjectSpec:
    r, h = _u(rng, 0.12, 0.16), _u(rng, 0.3, 0.42)
    parts = [Part("frustum", (r * 0.88, r, h), (0, 0, 0))]
    return ObjectSpec("trash can", parts, (r, r), h, colour or pick_colour("trash can", rng), 0.025)


def large_box(rng, colour=None) -> ObjectSpec:
    return box_object(rng, colour, large=True)


# which builders may go where: the layout draws from these tables
WALL_FURNITURE: dict[str, Callable] = {"cabinet": cabinet, "bookshelf": bookshelf}
BIG_FURNITURE: dict[str, Callable] = {"sofa": sofa, "bed": bed}
TABLETOP: dict[str, Callable] = {"cup": cup, "bottle": bottle, "book": book, "box": box_object,
                                 "lamp": lamp, "bowl": bowl}
LOW_TABLETOP = ("cup", "book", "bowl")
FLOOR_ITEMS: dict[str, Callable] = {"box": large_box, "trash can": trash_can}
