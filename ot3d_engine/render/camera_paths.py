"""Where the virtual camera goes: orbits for objects, greedy-coverage viewpoints for rooms.

An object (a table top, a statue, a chair) is seen best from outside: rings of views at
several elevations looking at its centre. A room is seen from inside: candidate eyes on a
grid in its free space (clear of every surface), each with a fan of look directions;
views are picked greedily by how many not-yet-seen (then seen-once) surface samples they
add, measured on cheap low-resolution renders with the same renderer as the real views.
The picked views are ordered into a nearest-neighbour tour so consecutive frames overlap,
which is what the tracker expects from a hand-held scan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

CLOSE_WEIGHT = 0.3  # what a close-up view's sample is worth in the greedy pick
ROOM_MIN_EXTENT = 2.5  # m: horizontal extent from which input is treated as a room/scene


@dataclass
class ViewPlan:
    poses: np.ndarray  # Nx4x4 camera-to-world (OpenCV axes)
    kind: str  # "orbit" or "room"
    coverage_1: float  # share of surface samples seen by >= 1 view
    coverage_2: float  # ... by >= 2 views


@dataclass
class Intrinsics:
    width: int
    height: int
    fov_deg: float  # horizontal field of view

    @property
    def K(self) -> np.ndarray:
        f = 0.5 * self.width / np.tan(np.radians(self.fov_deg) / 2)
        return np.array([[f, 0.0, (self.width - 1) / 2], [0.0, f, (self.height - 1) / 2], [0.0, 0.0, 1.0]])

    def scaled(self, factor: float) -> "Intrinsics":
        return Intrinsics(max(int(round(self.width * factor)), 8), max(int(round(self.height * factor)), 6),
                          self.fov_deg)


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Camera-to-world pose with +z towards the target and image 'down' along -up."""
    z = target - eye
    z = z / np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-6:  # looking straight along up: any sideways axis
        x = np.cross(z, _any_perpendicular(up))
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x, y, z], 1)
    pose[:3, 3] = eye
    return pose


def up_basis(up: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u = np.asarray(up, dtype=np.float64)
    u = u / np.linalg.norm(u)
    a = _any_perpendicular(u)
    b = np.cross(u, a)
    return u, a, b


def _any_perpendicular(u: np.ndarray) -> np.ndarray:
    axis = np.eye(3)[int(np.argmin(np.abs(u)))]
    a = np.cross(u, axis)
    return a / np.linalg.norm(a)


def scene_kind(points: np.ndarray, up: np.ndarray) -> str:
    """'room' when the input spans a room horizontally, else 'object'."""
    u, a, b = up_basis(up)
    extent_a = np.ptp(points @ a)
    extent_b = np.ptp(points @ b)
    return "room" if max(extent_a, extent_b) >= ROOM_MIN_EXTENT else "object"


def above_support(points: np.ndarray, up: np.ndarray, min_share: float = 0.02) -> np.ndarray:
    """What stands on the support surface (table top, floor), when the input has one: the
    points clearly above its height. All points when there is no such surface."""
    h = points @ (up / np.linalg.norm(up))
    extent = float(np.ptp(h))
    if extent <= 0:
        return points
    lower = h[h <= np.percentile(h, 50)]
    bins = np.arange(lower.min(), lower.max() + extent / 100, extent / 100)
    if len(bins) < 2:
        return points
    counts, edges = np.histogram(lower, bins=bins)
    level = edges[int(np.argmax(counts)) + 1]
    above = h > level + 0.02 * extent
    if above.mean() < min_share or above.mean() > 0.9:
        return points
    return points[above]


def orbit_poses(points: np.ndarray, up: np.ndarray, count: int, fov_deg: float, aspect: float,
                elevations_deg=(20.0, 45.0, 70.0), margin: float = 1.3) -> np.ndarray:
    """Rings of views around what stands on the support surface (or the whole input), each as
    close as it can be with all of it (2-98th percentile) and some context in the image."""
    u, a, b = up_basis(up)
    focus = above_support(points, up)
    lo, hi = np.percentile(focus, 2, axis=0), np.percentile(focus, 98, axis=0)
    centre = (lo + hi) / 2
    keep = np.all((focus >= lo) & (focus <= hi), axis=1)
    sample = focus[keep][:: max(1, int(keep.sum()) // 20000)] - centre
    tan_x = np.tan(np.radians(fov_deg) / 2)
    tan_y = tan_x / aspect
    rings = len(elevations_deg)
    per_ring = np.full(rings, count // rings)
    per_ring[: count % rings] += 1
    poses = []
    for r, (elev, n) in enumerate(zip(elevations_deg, per_ring)):
        e = np.radians(elev)
        # alternate direction per ring so the path stays continuous ring to ring
        yaw = np.linspace(0, 2 * np.pi, int(n), endpoint=False) + r * np.pi / max(int(n), 1)
        if r % 2:
            yaw = yaw[::-1]
        for t in yaw:
            out = np.cos(e) * (np.cos(t) * a + np.sin(t) * b) + np.sin(e) * u
            pose = look_at(centre + out, centre, u)
            cam = sample @ pose[:3, :3]  # camera axes; the camera sits at -distance along z
            need = np.maximum(np.abs(cam[:, 0]) / tan_x, np.abs(cam[:, 1]) / tan_y) - cam[:, 2]
            distance = margin * max(float(need.max()), 1e-3)
            pose[:3, 3] = centre + distance * out
            poses.append(pose)
    return np.stack(poses) if poses else np.zeros((0, 4, 4))


def room_candidates(points: np.ndarray, up: np.ndarray, clearance: float = 0.35, grid: float = 0.6,
                    heights=(0.45, 0.6), yaws: int = 8, pitches_deg=(-20.0, -45.0)) -> np.ndarray:
    """Candidate views inside free space: grid eyes at fractions of the room height, at least
    `clearance` from every surface sample, each with a fan of yaws and downward pitches."""
    u, a, b = up_basis(up)
    tree = cKDTree(points)
    pa, pb, pu = points @ a, points @ b, points @ u
    lo_u, hi_u = np.percentile(pu, 1), np.percentile(pu, 99)
    step = max(grid, max(np.ptp(pa), np.ptp(pb)) / 12)
    ga = np.arange(np.percentile(pa, 1) + clearance, np.percentile(pa, 99) - clearance + 1e-9, step)
    gb = np.arange(np.percentile(pb, 1) + clearance, np.percentile(pb, 99) - clearance + 1e-9, step)
    eyes = []
    for h in heights:
        hu = lo_u + h * (hi_u - lo_u)
        A, B = np.meshgrid(ga, gb)
        eyes.append(A.reshape(-1, 1) * a + B.reshape(-1, 1) * b + hu * u)
    eyes = np.concatenate(eyes) if eyes else np.zeros((0, 3))
    if len(eyes):
        dist, _ = tree.query(eyes, k=1)
        eyes = eyes[dist >= clearance]
    if not len(eyes):  # nothing clear of the surfaces (a cramped scan): the centre
        eyes = np.array([points.mean(0)])
    poses = []
    for eye in eyes:
        for t in np.linspace(0, 2 * np.pi, yaws, endpoint=False):
            horizontal = np.cos(t) * a + np.sin(t) * b
            for p in np.radians(pitches_deg):
                d = np.cos(p) * horizontal + np.sin(p) * u
                poses.append(look_at(eye, eye + d, u))
    return np.stack(poses)


def seen_matrix(render_depth, poses: np.ndarray, K: np.ndarray, width: int, height: int, samples: np.ndarray,
                depth_max: float, tolerance: float, close: float = 0.0) -> np.ndarray:
    """views x samples, float32: 1 where the sample projects into the view and matches its
    rendered depth, CLOSE_WEIGHT where it does so nearer than `close` (a close-up shows a
    fragment of an object, which the 2D segmenter cannot tell from a whole one), else 0."""
    seen = np.zeros((len(poses), len(samples)), dtype=np.float32)
    for i, pose in enumerate(poses):
        depth = render_depth(pose)
        r, t = pose[:3, :3], pose[:3, 3]
        cam = (samples - t) @ r
        z = cam[:, 2]
        front = (z > 1e-3) & (z <= depth_max)
        zs = np.where(front, z, 1.0)
        uu = np.round(K[0, 0] * cam[:, 0] / zs + K[0, 2]).astype(np.int64)
        vv = np.round(K[1, 1] * cam[:, 1] / zs + K[1, 2]).astype(np.int64)
        inside = front & (uu >= 0) & (uu < width) & (vv >= 0) & (vv < height)
        idx = np.flatnonzero(inside)
        d = depth[vv[idx], uu[idx]]
        ok = (d > 0) & (np.abs(d - z[idx]) <= tolerance + 0.02 * z[idx])
        seen[i, idx[ok]] = np.where(z[idx[ok]] < close, CLOSE_WEIGHT, 1.0)
    return seen


def greedy_pick(seen: np.ndarray, count: int) -> list[int]:
    """Views in pick order: each adds the most unseen samples, then the most seen-once."""
    counts = np.zeros(seen.shape[1], dtype=np.int64)
    picked: list[int] = []
    available = np.ones(len(seen), dtype=bool)
    weights = np.array([1.0, 0.35, 0.02])
    for _ in range(min(count, len(seen))):
        w = weights[np.minimum(counts, 2)]
        gain = seen @ w.astype(np.float32)
        gain[~available] = -1
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            break
        picked.append(best)
        available[best] = False
        counts += seen[best] > 0
    return picked


def tour(poses: np.ndarray) -> np.ndarray:
    """Nearest-neighbour order (eye distance + viewing-direction change) from the first pose."""
    if len(poses) < 3:
        return np.arange(len(poses))
    eyes, dirs = poses[:, :3, 3], poses[:, :3, 2]
    scale = max(np.ptp(eyes, axis=0).max(), 1e-6)
    order = [0]
    left = set(range(1, len(poses)))
    while left:
        cur = order[-1]
        cand = np.array(sorted(left))
        cost = np.linalg.norm(eyes[cand] - eyes[cur], axis=1) / scale + 0.5 * (1 - dirs[cand] @ dirs[cur])
        nxt = int(cand[np.argmin(cost)])
        order.append(nxt)
        left.remove(nxt)
    return np.array(order)


def coverage(seen: np.ndarray) -> tuple[float, float]:
    if seen.size == 0:
        return 0.0, 0.0
    n = (seen > 0).sum(0)
    return float((n >= 1).mean()), float((n >= 2).mean())
