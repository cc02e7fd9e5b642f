"""One triangle soup for the whole room, with per-triangle instance, class and shaded colour.

A single mesh keeps rendering to one ray-cast per pixel: the hit's primitive id indexes
these arrays directly. Colours get a fixed-light shading by face normal and a little
per-triangle noise, so flat surfaces have texture but same-class objects still look alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import primitives as pr
from .classes import CLASS_ID
from .layout import Layout, Room
from .objects import Part, SceneObject, jitter

LIGHT = np.array([0.3, 0.5, 1.0]) / np.linalg.norm([0.3, 0.5, 1.0])
STRUCTURE_SPACING = 0.08  # m between vertices on floor, walls and ceiling


@dataclass
class SceneMesh:
    vertices: np.ndarray  # Vx3 float64
    triangles: np.ndarray  # Tx3 int64
    tri_instance: np.ndarray  # T int32
    tri_class: np.ndarray  # T int32
    tri_colour: np.ndarray  # Tx3 uint8
    vertex_instance: np.ndarray  # V int32
    vertex_class: np.ndarray  # V int32
    vertex_colour: np.ndarray  # Vx3 uint8
    instance_class: dict[int, int]  # instance id -> class id


def _part_mesh(part: Part, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    builders = {
        "box": lambda: pr.box(part.size, spacing),
        "frustum": lambda: pr.frustum(*part.size, spacing),
        "sphere": lambda: pr.sphere(part.size[0], spacing),
    }
    verts, tris = builders[part.shape]()
    return verts + np.asarray(part.offset), tris


def _place(verts: np.ndarray, position: np.ndarray, yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return verts @ rot.T + position


def _structure(room: Room, rng) -> list[tuple[str, tuple, tuple[np.ndarray, np.ndarray]]]:
    """Floor, four walls and ceiling as inward-facing subdivided planes."""
    w, d, h = room.width, room.depth, room.height
    floor = [(150, 110, 76), (122, 122, 128), (200, 195, 184)][int(rng.integers(3))]
    wall = [(226, 222, 210), (214, 218, 222), (230, 224, 212)][int(rng.integers(3))]
    planes = [
        ("floor", floor, ((0, 0, 0), (w, 0, 0), (0, d, 0))),
        ("wall", wall, ((0, 0, 0), (0, 0, h), (w, 0, 0))),
        ("wall", wall, ((w, 0, 0), (0, 0, h), (0, d, 0))),
        ("wall", wall, ((w, d, 0), (0, 0, h), (-w, 0, 0))),
        ("wall", wall, ((0, d, 0), (0, 0, h), (0, -d, 0))),
        ("ceiling", (240, 240, 238), ((0, 0, h), (0, d, 0), (w, 0, 0))),
    ]
    return [(name, jitter(col, rng, 5), pr.grid_quad(*geo, STRUCTURE_SPACING)) for name, col, geo in planes]


def _shade(verts: np.ndarray, tris: np.ndarray, colour: np.ndarray, rng) -> np.ndarray:
    a, b, c = verts[tris[:, 0]], verts[tris[:, 1]], verts[tris[:, 2]]
    n = np.cross(b - a, c - a)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    light = 0.72 + 0.28 * np.clip(n @ LIGHT, -0.4, 1.0)
    noise = 1.0 + rng.normal(0.0, 0.025, len(tris))
    return np.clip(colour[None, :] * (light * noise)[:, None], 0, 255).astype(np.uint8)


def build_scene_mesh(layout: Layout, rng: np.random.Generator) -> SceneMesh:
    chunks = []  # (verts, tris, instance, class id, per-triangle colours)
    for obj in layout.objects:
        chunks += _object_chunks(obj, rng)
    next_id = max((o.instance_id for o in layout.objects), default=0) + 1
    for name, colour, (verts, tris) in _structure(layout.room, rng):
        chunks.append((verts, tris, next_id, CLASS_ID[name], _shade(verts, tris, np.asarray(colour, float), rng)))
        next_id += 1

    verts, tris, tri_inst, tri_cls, tri_col, v_inst, v_cls = [], [], [], [], [], [], []
    offset = 0
    for v, t, inst, cls, col in chunks:
        verts.append(v)
        tris.append(t + offset)
        offset += len(v)
        tri_inst.append(np.full(len(t), inst, np.int32))
        tri_cls.append(np.full(len(t), cls, np.int32))
        tri_col.append(col)
        v_inst.append(np.full(len(v), inst, np.int32))
        v_cls.append(np.full(len(v), cls, np.int32))
    vertices, triangles = np.concatenate(verts), np.concatenate(tris)
    tri_colour = np.concatenate(tri_col)
    return SceneMesh(
        vertices=vertices, triangles=triangles,
        tri_instance=np.concatenate(tri_inst), tri_class=np.concatenate(tri_cls), tri_colour=tri_colour,
        vertex_instance=np.concatenate(v_inst), vertex_class=np.concatenate(v_cls),
        vertex_colour=_vertex_colours(len(vertices), triangles, tri_colour),
        instance_class={int(i): int(c) for i, c in zip(np.concatenate(tri_inst), np.concatenate(tri_cls))},
    )


def _object_chunks(obj: SceneObject, rng) -> list:
    cls = CLASS_ID[obj.spec.class_name]
    out = []
    for part in obj.spec.parts:
        verts, tris = _part_mesh(part, obj.spec.spacing)
        verts = _place(verts, obj.position, obj.yaw)
        colour = np.asarray(part.colour or obj.spec.colour, dtype=np.float64)
        out.append((verts, tris, obj.instance_id, cls, _shade(verts, tris, colour, rng)))
    return out


def _vertex_colours(n: int, tris: np.ndarray, tri_colour: np.ndarray) -> np.ndarray:
    """Mean colour of the triangles around each vertex (what a textured scan mesh stores)."""
    idx = tris.reshape(-1)
    count = np.bincount(idx, minlength=n).astype(np.float64)
    out = np.stack([np.bincount(idx, weights=np.repeat(tri_colour[:, k].astype(np.float64), 3), minlength=n)
                    for k in range(3)], 1)
    return np.clip(np.round(out / np.maximum(count, 1)[:, None]), 0, 255).astype(np.uint8)
