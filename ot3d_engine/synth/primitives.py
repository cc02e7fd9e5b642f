"""Triangle meshes of boxes, frustums and spheres with vertices a few cm apart.

Surfaces are subdivided (not just 12-triangle boxes) because the scene mesh doubles as
the vertex set for superpoints and evaluation, which need samples everywhere.
Every builder returns (vertices Vx3 float64, triangles Tx3 int64) in a local frame,
with triangles wound so that their normals point outwards.
"""

from __future__ import annotations

import math

import numpy as np


def _cells(length: float, spacing: float) -> int:
    return max(1, int(math.ceil(length / spacing - 1e-9)))


def grid_quad(origin, u, v, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """A planar rectangle origin + s*u + t*v (s, t in [0, 1]); normal is u x v."""
    origin, u, v = (np.asarray(a, dtype=np.float64) for a in (origin, u, v))
    nu, nv = _cells(np.linalg.norm(u), spacing), _cells(np.linalg.norm(v), spacing)
    s, t = np.meshgrid(np.linspace(0, 1, nu + 1), np.linspace(0, 1, nv + 1), indexing="ij")
    verts = origin + s.reshape(-1, 1) * u + t.reshape(-1, 1) * v
    idx = np.arange((nu + 1) * (nv + 1)).reshape(nu + 1, nv + 1)
    a, b = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel()
    c, d = idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    tris = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    return verts, tris


def weld(verts: np.ndarray, tris: np.ndarray, tol: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Merge coincident vertices (shared box edges) so the mesh is connected."""
    keys = np.round(verts / tol).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)  # keep the original vertex order for determinism
    remap = np.empty_like(order)
    remap[order] = np.arange(len(order))
    return verts[first[order]], remap[inverse.reshape(-1)][tris]


def merge(parts) -> tuple[np.ndarray, np.ndarray]:
    verts, tris, offset = [], [], 0
    for v, t in parts:
        verts.append(v)
        tris.append(t + offset)
        offset += len(v)
    return np.concatenate(verts), np.concatenate(tris)


def box(size, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned box centred on the origin."""
    a, b, c = (float(x) for x in size)
    hx, hy, hz = a / 2, b / 2, c / 2
    faces = [
        ((hx, -hy, -hz), (0, b, 0), (0, 0, c)),
        ((-hx, -hy, -hz), (0, 0, c), (0, b, 0)),
        ((-hx, hy, -hz), (0, 0, c), (a, 0, 0)),
        ((-hx, -hy, -hz), (a, 0, 0), (0, 0, c)),
        ((-hx, -hy, hz), (a, 0, 0), (0, b, 0)),
        ((-hx, -hy, -hz), (0, b, 0), (a, 0, 0)),
    ]
    return weld(*merge(grid_quad(o, u, v, spacing) for o, u, v in faces))


def _ring_strip(ring0: np.ndarray, ring1: np.ndarray) -> np.ndarray:
    """Triangles joining two closed rings of n vertex indices each."""
    n = len(ring0)
    nxt = np.roll(np.arange(n), -1)
    a, b, c, d = ring0, ring0[nxt], ring1[nxt], ring1
    return np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])


def frustum(r_bottom: float, r_top: float, height: float, spacing: float,
            segments: int | None = None, caps: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Cylinder or truncated cone standing on z=0, axis +z."""
    r_max = max(r_bottom, r_top)
    n = segments or max(12, _cells(2 * math.pi * r_max, spacing))
    rows = _cells(height, spacing)
    ang = np.linspace(0, 2 * math.pi, n, endpoint=False)
    cs, sn = np.cos(ang), np.sin(ang)
    z = np.linspace(0, height, rows + 1)
    r = np.linspace(r_bottom, r_top, rows + 1)
    verts = [np.stack([np.outer(r, cs).ravel(), np.outer(r, sn).ravel(), np.repeat(z, n)], 1)]
    rings = np.arange((rows + 1) * n).reshape(rows + 1, n)
    tris = [_ring_strip(rings[i], rings[i + 1]) for i in range(rows)]
    count = (rows + 1) * n
    if caps:
        for z_cap, r_cap, outer, up in ((0.0, r_bottom, rings[0], False), (height, r_top, rings[-1], True)):
            if r_cap <= 0:
                continue
            k = _cells(r_cap, spacing)
            inner_r = r_cap * np.arange(k - 1, 0, -1) / k  # rings from the rim inwards
            ring_verts = np.stack([np.outer(inner_r, cs).ravel(), np.outer(inner_r, sn).ravel(),
                                   np.full(len(inner_r) * n, z_cap)], 1)
            centre = np.array([[0.0, 0.0, z_cap]])
            verts += [ring_verts, centre]
            inner = count + np.arange(len(inner_r) * n).reshape(-1, n)
            centre_idx = count + len(ring_verts)
            count = centre_idx + 1
            chain = [outer] + list(inner)
            cap = [_ring_strip(chain[i], chain[i + 1]) for i in range(len(chain) - 1)]
            last = chain[-1]
            cap.append(np.stack([last, np.roll(last, -1), np.full(n, centre_idx)], 1))
            cap = np.concatenate(cap)
            # the strips above face +z when going rim->centre; flip the bottom cap
            tris.append(cap if up else cap[:, ::-1])
    return np.concatenate(verts), np.concatenate(tris)


def sphere(radius: float, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """UV sphere centred on the origin."""
    n = max(12, _cells(2 * math.pi * radius, spacing))
    m = max(6, n // 2)
    lat = np.linspace(0, math.pi, m + 1)[1:-1]
    lon = np.linspace(0, 2 * math.pi, n, endpoint=False)
    x = np.outer(np.sin(lat), np.cos(lon)).ravel()
    y = np.outer(np.sin(lat), np.sin(lon)).ravel()
    z = np.repeat(np.cos(lat), n)
    body = radius * np.stack([x, y, z], 1)
    top, bottom = len(body), len(body) + 1
    verts = np.concatenate([body, [[0, 0, radius]], [[0, 0, -radius]]])
    rings = np.arange(len(body)).reshape(m - 1, n)
    # rings run from the north pole southwards: strips face outward with reversed order
    tris = [_ring_strip(rings[i + 1], rings[i]) for i in range(m - 2)]
    first, last = rings[0], rings[-1]
    tris.append(np.stack([np.full(n, top), first, np.roll(first, -1)], 1))
    tris.append(np.stack([np.full(n, bottom), np.roll(last, -1), last], 1))
    return verts, np.concatenate(tris)
