"""Where things go: a rectangular room, tables with chairs in the middle, furniture along
the walls, small objects on tables and cabinets, a few things on the floor.

The camera orbits above everything (>= 1.39 m; the tallest thing in the middle, a lamp
on a table, ends below 1.2 m) and at least `CAMERA_INSET` from the walls, so only tall
furniture hugs the walls and nothing ever cuts through the camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import objects as ob
from .objects import SceneObject

CAMERA_INSET = 0.6  # camera path distance from the walls (m)
MIN_OBJECTS, MAX_OBJECTS = 6, 15


@dataclass
class Room:
    width: float  # along x
    depth: float  # along y
    height: float

    @property
    def centre(self) -> np.ndarray:
        return np.array([self.width / 2, self.depth / 2])


@dataclass
class Layout:
    room: Room
    objects: list[SceneObject]


def _overlaps(a: np.ndarray, b: np.ndarray, margin: float = 0.0) -> bool:
    return bool(a[0] < b[2] + margin and b[0] < a[2] + margin and a[1] < b[3] + margin and b[1] < a[3] + margin)


def _inside(fp: np.ndarray, room: Room, margin: float = 0.02) -> bool:
    return bool(fp[0] >= margin and fp[1] >= margin and fp[2] <= room.width - margin and fp[3] <= room.depth - margin)


class _Placer:
    """Keeps the floor footprints placed so far and tries random poses until one fits."""

    def __init__(self, room: Room, rng: np.random.Generator):
        self.room, self.rng = room, rng
        self.floor: list[SceneObject] = []

    def fits(self, obj: SceneObject, ignore: tuple[SceneObject, ...] = (), margin: float = 0.08) -> bool:
        fp = obj.footprint()
        return _inside(fp, self.room) and not any(
            _overlaps(fp, o.footprint(), margin) for o in self.floor if o not in ignore)

    def against_wall(self, spec: ob.ObjectSpec, tries: int = 40) -> SceneObject | None:
        room, hx, hy = self.room, *spec.half_extent
        for _ in range(tries):
            wall = int(self.rng.integers(4))
            gap = float(self.rng.uniform(0.01, 0.04))
            along_len = room.width if wall in (0, 2) else room.depth
            if along_len < 2 * hx + 0.2:
                continue
            t = float(self.rng.uniform(hx + 0.05, along_len - hx - 0.05))
            pos, yaw = {
                0: ((t, hy + gap), 0.0),
                1: ((room.width - hy - gap, t), np.pi / 2),
                2: ((t, room.depth - hy - gap), np.pi),
                3: ((hy + gap, t), -np.pi / 2),
            }[wall]
            obj = SceneObject(spec, np.array([pos[0], pos[1], 0.0]), float(yaw))
            if self.fits(obj):
                self.floor.append(obj)
                return obj
        return None

    def free(self, spec: ob.ObjectSpec, region: tuple[float, float, float, float], tries: int = 40,
             ignore=(), margin: float = 0.08, yaw_choices=(0.0, np.pi / 2)) -> SceneObject | None:
        x0, y0, x1, y1 = region
        for _ in range(tries):
            yaw = float(yaw_choices[int(self.rng.integers(len(yaw_choices)))]) + float(self.rng.normal(0, 0.08))
            pos = np.array([self.rng.uniform(x0, x1), self.rng.uniform(y0, y1), 0.0])
            obj = SceneObject(spec, pos, yaw)
            if self.fits(obj, ignore, margin):
                self.floor.append(obj)
                return obj
        return None


def _chairs_around(placer: _Placer, table: SceneObject, count: int, colour, rng) -> list[SceneObject]:
    """Chairs on the table's long sides, facing it, their seats just under its edge (they hide
    its legs); tucked no deeper than the table's legs are inset, so nothing interpenetrates."""
    hx, hy = table.spec.half_extent
    c, s = np.cos(table.yaw), np.sin(table.yaw)
    slots = [(sx * hx * 0.45, sy) for sy in (-1, 1) for sx in (-1, 1)]
    rng.shuffle(slots)
    chairs = []
    for local_x, side in slots:
        if len(chairs) == count:
            break
        spec = ob.chair(rng, colour)
        tuck = float(rng.uniform(0.0, 0.04))
        local = np.array([local_x + rng.normal(0, 0.04), side * (hy + spec.half_extent[1] - tuck)])
        world = table.position[:2] + np.array([c * local[0] - s * local[1], s * local[0] + c * local[1]])
        # the chair's front (+y local) faces the table
        yaw = table.yaw + (np.pi if side > 0 else 0.0) + float(rng.normal(0, 0.12))
        chair = SceneObject(spec, np.array([world[0], world[1], 0.0]), yaw)
        if placer.fits(chair, ignore=(table,), margin=0.03):
            placer.floor.append(chair)
            chairs.append(chair)
    return chairs


def _local_extent(spec: ob.ObjectSpec, yaw_rel: float) -> np.ndarray:
    hx, hy = spec.half_extent
    if spec.is_round:
        return np.array([hx, hy])
    c, s = abs(np.cos(yaw_rel)), abs(np.sin(yaw_rel))
    return np.array([hx * c + hy * s, hx * s + hy * c])


def _place_small(support: SceneObject, specs: list[ob.ObjectSpec], rng, tries: int = 30) -> list[SceneObject]:
    """Small objects on `support`'s top, inside its edges and not intersecting each other.

    Placement happens in the support's frame (rectangles stay axis-aligned there); half of
    the objects are put flush against the previous one, so some instances touch.
    """
    hx, hy, top_z = support.spec.top
    c, s = np.cos(support.yaw), np.sin(support.yaw)
    placed: list[tuple[np.ndarray, np.ndarray]] = []  # (centre, half extent) in support frame
    out: list[SceneObject] = []
    for spec in specs:
        touch = placed[-1] if placed and rng.random() < 0.5 else None
        for _ in range(tries):
            yaw_rel = float(rng.uniform(-np.pi, np.pi)) if spec.is_round else float(rng.choice([0.0, np.pi / 2]))
            ext = _local_extent(spec, yaw_rel)
            if touch is not None:
                axis = int(rng.integers(2))
                centre = touch[0].copy()
                centre[axis] += rng.choice([-1.0, 1.0]) * (touch[1][axis] + ext[axis] + 0.001)
                centre[1 - axis] += rng.uniform(-0.5, 0.5) * min(touch[1][1 - axis], ext[1 - axis])
            else:
                centre = np.array([rng.uniform(-hx, hx), rng.uniform(-hy, hy)])
            if np.any(np.abs(centre) + ext > np.array([hx, hy]) - 0.02):
                continue
            if any(np.all(np.abs(centre - pc) < ext + pe - 0.0005) for pc, pe in placed):
                continue
            placed.append((centre, ext))
            world = support.position[:2] + np.array([c * centre[0] - s * centre[1], s * centre[0] + c * centre[1]])
            out.append(SceneObject(spec, np.array([world[0], world[1], support.position[2] + top_z]),
                                   support.yaw + yaw_rel))
            break
    return out


def make_layout(rng: np.random.Generator) -> Layout:
    room = Room(float(rng.uniform(4.6, 6.2)), float(rng.uniform(4.0, 5.2)), float(rng.uniform(2.6, 2.9)))
    placer = _Placer(room, rng)
    objects: list[SceneObject] = []

    # tables in the middle, chairs around them (same-class instances that look alike)
    n_tables = 2 if rng.random() < 0.4 else 1
    tables = []
    for _ in range(n_tables):
        spec = ob.table(rng)
        hx, hy = spec.half_extent
        region = (hx + 0.75, hy + 0.75, room.width - hx - 0.75, room.depth - hy - 0.75)
        t = placer.free(spec, region, margin=0.9, yaw_choices=(0.0,))
        if t is not None:
            tables.append(t)
    chair_colour = ob.pick_colour("chair", rng)
    chairs = []
    for t in tables:
        n = int(rng.integers(2, 4)) if len(tables) == 1 else int(rng.integers(1, 3))
        chairs += _chairs_around(placer, t, n, chair_colour, rng)
    objects += tables + chairs

    # big and storage furniture along the walls
    big = list(ob.BIG_FURNITURE.values())[int(rng.integers(len(ob.BIG_FURNITURE)))](rng)
    wall_items = [big] + [list(ob.WALL_FURNITURE.values())[int(rng.integers(len(ob.WALL_FURNITURE)))](rng)
                          for _ in range(int(rng.integers(1, 3)))]
    for spec in wall_items:
        o = placer.against_wall(spec)
        if o is not None:
            objects.append(o)

    # small things on tables and cabinets, some touching each other
    supports = [o for o in objects if o.spec.top is not None]
    small: list[SceneObject] = []
    for sup in supports:
        n = int(rng.integers(1, 4)) if sup.spec.class_name == "table" else int(rng.integers(0, 2))
        # only low things on cabinets: the camera path passes over them
        choices = list(ob.TABLETOP) if sup.spec.class_name == "table" else list(ob.LOW_TABLETOP)
        names = [choices[int(rng.integers(len(choices)))] for _ in range(n)]
        small += _place_small(sup, [ob.TABLETOP[name](rng) for name in names], rng)

    # a few things on the floor, near the walls
    floor_items = []
    for _ in range(int(rng.integers(0, 3))):
        name = list(ob.FLOOR_ITEMS)[int(rng.integers(len(ob.FLOOR_ITEMS)))]
        o = placer.free(ob.FLOOR_ITEMS[name](rng), (0.25, 0.25, room.width - 0.25, room.depth - 0.25), margin=0.05)
        if o is not None:
            floor_items.append(o)

    objects += floor_items + small
    while len(objects) > MAX_OBJECTS:  # drop small things last placed
        objects.pop()
    while len(objects) < MIN_OBJECTS:
        name = list(ob.FLOOR_ITEMS)[int(rng.integers(len(ob.FLOOR_ITEMS)))]
        o = placer.free(ob.FLOOR_ITEMS[name](rng), (0.25, 0.25, room.width - 0.25, room.depth - 0.25),
                        tries=200, margin=0.03)
        if o is None:
            break
        objects.append(o)
    for i, o in enumerate(objects, start=1):
        o.instance_id = i
    return Layout(room, objects)
