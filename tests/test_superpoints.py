"""Mesh superpoints (vectorised Felzenszwalb-Huttenlocher, as ScanNet's Segmentator), mesh
loading with bad-input handling, and snapping predicted instances to superpoints."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest

from ot3d_engine.errors import ScanError
from ot3d_engine.io.mesh import check_mesh, load_mesh, write_mesh
from ot3d_engine.io.ply import read_ply, write_ply
from ot3d_engine.refine.superpoint_refine import refine_scene_result, refine_with_superpoints
from ot3d_engine.refine.superpoints import compact_labels, compute_superpoints, mesh_graph, segment_graph
from ot3d_engine.types import Instance, SceneResult

# --- meshes with known answers -----------------------------------------------------------


def grid_patch(origin, u, v, nu, nv):
    """Planar nu x nv-cell grid origin + s*u + t*v, triangles wound so the normal is u x v."""
    origin, u, v = (np.asarray(x, dtype=np.float64) for x in (origin, u, v))
    s, t = np.meshgrid(np.arange(nu + 1) / nu, np.arange(nv + 1) / nv, indexing="ij")
    verts = origin + s.reshape(-1, 1) * u + t.reshape(-1, 1) * v
    idx = np.arange((nu + 1) * (nv + 1)).reshape(nu + 1, nv + 1)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[1:, 1:].ravel(), idx[:-1, 1:].ravel()
    return verts, np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])


def boxes_on_floor(cell=0.05, size=30, boxes=((4, 4, 8, 8, 6), (17, 15, 10, 7, 6))):
    """A floor with boxes (x, y, w, d, h in cells) welded onto it, like a reconstructed scan.

    Returns vertices, faces, each vertex's planar patch (0 floor, then 5 per box; -1 on a
    crease between patches) and its object (0 floor, 1.. boxes; -1 on a box's seam with the
    floor)."""
    floor_v, floor_f = grid_patch((0, 0, 0), (size * cell, 0, 0), (0, size * cell, 0), size, size)
    centre = floor_v[floor_f].mean(1)
    keep = np.ones(len(floor_f), bool)
    parts = []
    for x, y, w, d, h in boxes:
        x0, y0, x1, y1, z = x * cell, y * cell, (x + w) * cell, (y + d) * cell, h * cell
        keep &= ~((centre[:, 0] > x0) & (centre[:, 0] < x1) & (centre[:, 1] > y0) & (centre[:, 1] < y1))
        parts += [grid_patch((x0, y0, z), (x1 - x0, 0, 0), (0, y1 - y0, 0), w, d),  # top
                  grid_patch((x0, y0, 0), (x1 - x0, 0, 0), (0, 0, z), w, h),  # -y
                  grid_patch((x0, y1, 0), (0, 0, z), (x1 - x0, 0, 0), h, w),  # +y
                  grid_patch((x0, y0, 0), (0, 0, z), (0, y1 - y0, 0), h, d),  # -x
                  grid_patch((x1, y0, 0), (0, y1 - y0, 0), (0, 0, z), d, h)]  # +x
    parts = [(floor_v, floor_f[keep])] + parts
    verts, faces, patch, off = [], [], [], 0
    for i, (v, f) in enumerate(parts):
        verts.append(v)
        faces.append(f + off)
        patch.append(np.full(len(f), i))
        off += len(v)
    verts, faces, patch = np.concatenate(verts), np.concatenate(faces), np.concatenate(patch)
    # weld coincident vertices, drop the floor vertices left under the boxes
    _, first, inverse = np.unique(np.round(verts / (cell * 1e-3)).astype(np.int64), axis=0,
                                  return_index=True, return_inverse=True)
    order = np.argsort(first)
    remap = np.empty_like(order)
    remap[order] = np.arange(len(order))
    verts, faces = verts[first[order]], remap[inverse.reshape(-1)][faces]
    used = np.zeros(len(verts), bool)
    used[faces] = True
    verts, faces = verts[used], (np.cumsum(used) - 1)[faces]
    return verts, faces, _unanimous(faces, patch, len(verts)), _unanimous(faces, (patch + 4) // 5, len(verts))


def _unanimous(faces, face_value, n):
    lo = np.full(n, np.iinfo(np.int64).max)
    hi = np.full(n, -1)
    np.minimum.at(lo, faces.ravel(), np.repeat(face_value, 3))
    np.maximum.at(hi, faces.ravel(), np.repeat(face_value, 3))
    return np.where(lo == hi, lo, -1)


def icosphere(subdivisions, radius=1.0):
    m = o3d.geometry.TriangleMesh.create_icosahedron().subdivide_midpoint(subdivisions)
    v = np.asarray(m.vertices)
    return radius * v / np.linalg.norm(v, axis=1, keepdims=True), np.asarray(m.triangles)


def regions(labels, mask):
    """Set of frozensets: the vertex indices of each label, restricted to mask."""
    idx = np.flatnonzero(mask)
    return {frozenset(idx[labels[idx] == s].tolist()) for s in np.unique(labels[idx])}


# --- sequential references ---------------------------------------------------------------


def segmentator_edges(vertices, faces):
    """ScanNet Segmentator's normals and edge weights, one face and one edge at a time."""
    normals = np.zeros((len(vertices), 3))
    counts = np.zeros(len(vertices))
    for i1, i2, i3 in faces:
        p1, p2, p3 = vertices[i1], vertices[i2], vertices[i3]
        n = np.cross(p2 - p1, p3 - p1)
        n /= np.linalg.norm(n)
        for i in (i1, i2, i3):  # lerp(normal, n, 1 / (count + 1)): a running mean
            normals[i] += (n - normals[i]) / (counts[i] + 1)
            counts[i] += 1
    edges = []
    for i1, i2, i3 in faces:
        for a, b in ((i1, i2), (i1, i3), (i3, i2)):
            d = vertices[b] - vertices[a]
            d /= np.linalg.norm(d)
            w = 1.0 - normals[a] @ normals[b]
            toward = normals[b] @ d
            if toward > 0:
                w = w * w
            edges.append((a, b, w, toward))
    return edges


def sequential_segmentation(n, a, b, w, k, min_size):
    """The segmentator's two loops over the sorted edges (union-find per edge)."""
    parent, size, tau = list(range(n)), [1] * n, [float(k)] * n

    def find(x):
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def join(x, y):
        if size[x] < size[y]:
            x, y = y, x
        parent[y] = x
        size[x] += size[y]
        return x

    w = np.asarray(w, dtype=np.float64)
    for i in range(len(w)):
        x, y = find(int(a[i])), find(int(b[i]))
        if x != y and w[i] <= tau[x] and w[i] <= tau[y]:
            root = join(x, y)
            tau[root] = w[i] + k / size[root]
    for i in range(len(w)):
        x, y = find(int(a[i])), find(int(b[i]))
        if x != y and (size[x] < min_size or size[y] < min_size):
            join(x, y)
    return np.array([find(i) for i in range(n)])


def _noisy(v, sigma, seed):
    return v + np.random.default_rng(seed).normal(0.0, sigma, v.shape)


def _small_meshes():
    rng = np.random.default_rng(5)
    sphere = o3d.geometry.TriangleMesh.create_sphere(1.0, resolution=14)
    v, f, _, _ = boxes_on_floor(size=16, boxes=((3, 3, 5, 5, 4), (10, 9, 4, 5, 3)))
    flat, flat_f = grid_patch((0, 0, 0), (1, 0, 0), (0, 1, 0), 24, 24)
    bowl = flat.copy()
    bowl[:, 2] = 0.5 * (bowl[:, 0] - 0.4) ** 2 + 0.3 * (bowl[:, 1] - 0.6) ** 2  # smooth, no ties
    return {
        "noisy sphere": (_noisy(np.asarray(sphere.vertices), 0.02, 1), np.asarray(sphere.triangles)),
        "boxes on floor": (v, f),
        "noisy boxes": (_noisy(v, 0.004, 2), f),
        "flat grid (all weights tie)": (flat, flat_f),
        "flat grid, faces shuffled": (flat, flat_f[rng.permutation(len(flat_f))]),
        "smooth bowl": (bowl, flat_f),
        "noisy bowl": (_noisy(bowl, 0.003, 3), flat_f),
    }


# --- superpoints ---------------------------------------------------------------------------


def test_edge_weights_follow_the_segmentator():
    v, f, _, _ = boxes_on_floor(size=10, boxes=((2, 2, 4, 3, 3),))
    v = _noisy(v, 0.003, 0)
    a, b, w = mesh_graph(v, f)
    assert np.all(np.diff(w) >= 0)
    ref = segmentator_edges(v, f)
    ra, rb, rw, toward = (np.array(x) for x in zip(*ref))
    # same directed edges; weights equal up to float32, except that an edge lying flat in
    # the surface (n_b.d ~ 0) may fall on either side of the convexity test
    mine = np.lexsort((b, a))
    theirs = np.lexsort((rb, ra))
    assert np.array_equal(a[mine], ra[theirs]) and np.array_equal(b[mine], rb[theirs])
    w, rw, toward = w[mine], rw[theirs], toward[theirs]
    clear = np.abs(toward) > 1e-3
    assert clear.mean() > 0.9
    assert np.allclose(w[clear], rw[clear], atol=1e-6)
    flip = ~np.isclose(w, rw, atol=1e-6)
    assert np.allclose(np.minimum(w, rw)[flip], np.maximum(w, rw)[flip] ** 2, atol=1e-6)
    # the mesh has creases both ways: convex ones were squared, concave ones were not
    assert (rw > 0.4).sum() > 0 and ((rw > 0.1) & (rw < 0.3)).sum() > 0


@pytest.mark.parametrize("name", list(_small_meshes()))
def test_vectorised_segmentation_equals_the_sequential_loop(name):
    v, f = _small_meshes()[name]
    a, b, w = mesh_graph(v, f)
    for k, min_size in ((0.01, 20), (0.05, 5), (0.001, 1), (0.5, 60), (20.0, 20)):
        expected = compact_labels(sequential_segmentation(len(v), a, b, w, k, min_size))
        for window in (7, 1 << 16):  # tiny windows force many rounds
            got = compact_labels(segment_graph(len(v), a, b, w, k, min_size, window=window))
            assert np.array_equal(got, expected), (name, k, min_size, window)


def test_vectorised_segmentation_equals_the_sequential_loop_on_random_graphs():
    # arbitrary graphs (multi-edges, self-loops, heavy weight ties) reach states meshes rarely do
    rng = np.random.default_rng(11)
    for _ in range(150):
        n = int(rng.integers(4, 60))
        m = int(rng.integers(n, 4 * n))
        a, b = rng.integers(0, n, m), rng.integers(0, n, m)
        w = rng.random(m)
        if rng.random() < 0.5:
            w = np.round(w * rng.integers(2, 8)) / 8
        w = np.sort(w.astype(np.float32))
        k, min_size = float(rng.choice([0.05, 0.3, 1.0, 3.0])), int(rng.choice([1, 3, 8]))
        expected = compact_labels(sequential_segmentation(n, a, b, w, k, min_size))
        got = compact_labels(segment_graph(n, a, b, w, k, min_size, window=int(rng.integers(2, 40))))
        assert np.array_equal(got, expected), (n, m, k, min_size)


def test_smooth_sphere_is_one_region():
    v, f = icosphere(4)  # 2562 vertices, neighbouring normals ~4 degrees apart
    assert compute_superpoints(v, f).max() == 0
    assert compute_superpoints(v, f, min_verts=1).max() == 0  # FH alone, no merging needed
    # the same vertex count on a cube would not be one region (a control on the weights)
    cube = o3d.geometry.TriangleMesh.create_box(1, 1, 1).subdivide_midpoint(4)
    assert compute_superpoints(np.asarray(cube.vertices), np.asarray(cube.triangles)).max() >= 5


def test_two_boxes_on_a_plane_give_three_regions():
    v, f, vpatch, vobject = boxes_on_floor()
    # a box's own faces meet at convex creases (weight squared, ~0.25) and join once k / size
    # passes that; its seam with the floor is concave (~0.5) and stays cut
    sp = compute_superpoints(v, f, k_thresh=50.0)
    assert sp.max() + 1 == 3
    inside = vobject >= 0
    assert regions(sp, inside) == regions(vobject, inside)


def test_default_threshold_gives_one_region_per_planar_face():
    v, f, vpatch, _ = boxes_on_floor()
    sp = compute_superpoints(v, f)  # kThresh 0.01, segMinVerts 20
    assert sp.max() + 1 == 11  # floor + 5 visible faces per box
    inside = vpatch >= 0
    assert regions(sp, inside) == regions(vpatch, inside)


def test_minimum_size_merge():
    v, f, _, _ = boxes_on_floor()
    # plus a separate 6-vertex fan: nothing to merge it with
    fan_v = np.array([[3, 3, 0], [3.1, 3, 0], [3.1, 3.1, 0], [3, 3.1, 0], [2.9, 3.05, 0], [3.05, 2.9, 0.0]])
    fan_f = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 5, 1]]) + len(v)
    v, f = np.vstack([v, fan_v]), np.vstack([f, fan_f])
    raw = compute_superpoints(v, f, min_verts=1)
    merged = compute_superpoints(v, f, min_verts=20)
    raw_sizes, merged_sizes = np.bincount(raw), np.bincount(merged)
    assert (raw_sizes < 20).sum() >= 5  # crease chains and corners are small segments
    fan = merged[len(v) - 6:]
    assert len(set(fan.tolist())) == 1 and merged_sizes[fan[0]] == 6  # alone, stays small
    others = np.delete(merged_sizes, fan[0])
    assert others.min() >= 20
    # merging only joins whole segments
    for s in range(raw.max() + 1):
        assert len(np.unique(merged[raw == s])) == 1
    assert merged.max() < raw.max()


def test_superpoints_are_deterministic_and_numbered_by_first_vertex():
    v, f = _small_meshes()["noisy boxes"]
    one, two = compute_superpoints(v, f), compute_superpoints(v.copy(), f.copy())
    assert np.array_equal(one, two)
    _, first = np.unique(one, return_index=True)
    assert np.all(np.diff(first) > 0) and one[0] == 0 and one.max() + 1 == len(first)


# --- loading meshes ------------------------------------------------------------------------


def _write(tmp_path, name, vertices, faces=None, **attrs):
    path = tmp_path / name
    vertex = {"x": vertices[:, 0].astype(np.float32), "y": vertices[:, 1].astype(np.float32),
              "z": vertices[:, 2].astype(np.float32), **attrs}
    write_ply(path, vertex, faces)
    return path


def test_ply_mesh_round_trip_keeps_order_colours_and_attributes(tmp_path):
    v, f, _, vobject = boxes_on_floor(size=8, boxes=((2, 2, 3, 3, 2),))
    rgb = (np.arange(len(v) * 3) % 256).astype(np.uint8).reshape(-1, 3)
    path = _write(tmp_path, "m.ply", v, f, red=rgb[:, 0], green=rgb[:, 1], blue=rgb[:, 2],
                  instance_id=vobject.astype(np.int32))
    mesh = load_mesh(path, require_faces=True)
    assert np.allclose(mesh.vertices, v, atol=1e-6) and np.array_equal(mesh.faces, f)
    assert np.array_equal(mesh.colors, rgb) and mesh.valid.all() and mesh.notes == []
    assert np.array_equal(mesh.attributes["instance_id"], vobject)
    out = tmp_path / "labelled.ply"
    segments = compute_superpoints(mesh.vertices, mesh.faces).astype(np.int32)
    write_mesh(out, mesh, segment=segments)
    props, faces = read_ply(out)
    assert np.array_equal(faces, f) and np.array_equal(props["segment"], segments)
    assert np.array_equal(props["instance_id"], vobject) and np.array_equal(props["red"], rgb[:, 0])
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left no temp file


def test_nan_vertices_are_left_out_not_renumbered(tmp_path):
    v, f = icosphere(3)
    v[[5, 17]] = np.nan
    mesh = load_mesh(_write(tmp_path, "nan.ply", v, f))
    assert len(mesh.vertices) == len(v) and mesh.valid.sum() == len(v) - 2
    assert not np.isin(mesh.faces, [5, 17]).any()
    assert any("NaN" in n for n in mesh.notes)
    sp = compute_superpoints(mesh.vertices, mesh.faces)
    assert np.bincount(sp)[sp[5]] == 1 and np.bincount(sp)[sp[17]] == 1  # alone
    assert len(np.unique(sp[mesh.valid])) == 1  # the rest is still one smooth region
    # also straight from arrays, without load_mesh's repair
    assert np.array_equal(compute_superpoints(v, f), sp)


def test_degenerate_faces_are_dropped(tmp_path):
    v, f = icosphere(3)
    bad = np.array([[0, 0, 1], [2, 3, 2], [4, 4, 4]])
    collinear_v = np.array([[5, 0, 0], [6, 0, 0], [7, 0, 0.0]])
    v2 = np.vstack([v, collinear_v])
    f2 = np.vstack([f, bad, [[len(v), len(v) + 1, len(v) + 2]]])
    mesh = load_mesh(_write(tmp_path, "degenerate.ply", v2, f2))
    assert np.array_equal(mesh.faces, f)
    assert any("4 degenerate faces" in n for n in mesh.notes)


def test_non_manifold_edges_are_counted_and_segmented(tmp_path):
    v, f, _, _ = boxes_on_floor(size=10, boxes=())
    # a fin standing on an inner floor edge (a cell's diagonal): that edge now has three faces
    a, b = f[0, 0], f[0, 2]
    fin = np.array([(v[a] + v[b]) / 2 + [0, 0, 0.05]])
    mesh = load_mesh(_write(tmp_path, "fin.ply", np.vstack([v, fin]), np.vstack([f, [[a, b, len(v)]]])))
    assert mesh.non_manifold_edges == 1 and any("non-manifold" in n for n in mesh.notes)
    sp = compute_superpoints(mesh.vertices, mesh.faces)
    assert sp.max() == 0  # the fin's single vertex merges into the floor (min size)


def test_point_cloud_without_faces(tmp_path):
    v, _ = icosphere(2)
    path = _write(tmp_path, "cloud.ply", v)
    mesh = load_mesh(path)
    assert mesh.is_point_cloud and len(mesh.vertices) == len(v)
    with pytest.raises(ScanError, match="no usable faces") as err:
        load_mesh(path, require_faces=True)
    assert err.value.path == path
    # a mesh whose every face is degenerate is a point cloud too
    bad = _write(tmp_path, "flat.ply", v, np.array([[0, 0, 1], [1, 1, 2]]))
    with pytest.raises(ScanError, match="degenerate"):
        load_mesh(bad, require_faces=True)
    with pytest.raises(ScanError, match="no faces"):
        refine_scene_result(SceneResult(np.zeros((0, 3)), np.zeros((0, 3), np.uint8), np.zeros(0, np.int32), []),
                            mesh)


def test_unreadable_meshes_are_clear_errors(tmp_path):
    v, f = icosphere(1)
    cases = {
        "missing.ply": None,
        "mesh.stl": b"solid x\nendsolid x\n",
        "garbage.ply": b"not a ply at all",
        "empty.obj": b"# nothing here\n",
        "letters.obj": b"v 0 0 zero\nv 1 0 0\nv 0 1 0\nf 1 2 3\n",
    }
    for name, data in cases.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
        with pytest.raises(ScanError) as err:
            load_mesh(tmp_path / name)
        assert err.value.path == tmp_path / name, name
    out_of_range = _write(tmp_path, "oob.ply", v, np.vstack([f, [[0, 1, len(v) + 5]]]))
    with pytest.raises(ScanError, match="outside"):
        load_mesh(out_of_range)
    nothing = _write(tmp_path, "allnan.ply", np.full((3, 3), np.nan), np.array([[0, 1, 2]]))
    with pytest.raises(ScanError, match="NaN"):
        load_mesh(nothing)
    with pytest.raises(ScanError, match="no vertices"):
        check_mesh(np.zeros((0, 3)), None, path="x.ply")


def test_obj_keeps_vertex_order_across_texture_seams_and_polygons(tmp_path):
    # a flat 2x1 quad strip whose middle vertices carry two UVs each (a texture seam) and a
    # negative (relative) index: open3d would duplicate the seam vertices; we must not
    text = (b"v 0 0 0\nv 1 0 0\nv 2 0 0\nv 0 1 0\nv 1 1 0\nv 2 1 0\n"
            b"vt 0 0\nvt 1 0\nvt 0 1\nvt 1 1\n"
            b"f 1/1 2/2 5/4 4/3\n"
            b"f 2/1/1 3/2/1 -1/4/1 5/3/1\n")
    (tmp_path / "strip.obj").write_bytes(text)
    mesh = load_mesh(tmp_path / "strip.obj", require_faces=True)
    assert len(mesh.vertices) == 6 and np.allclose(mesh.vertices[4], [1, 1, 0])
    assert len(mesh.faces) == 4 and set(mesh.faces.ravel().tolist()) == set(range(6))
    assert compute_superpoints(mesh.vertices, mesh.faces).max() == 0  # still one connected piece
    (tmp_path / "cloud.obj").write_bytes(b"v 0 0 0 1 0 0\nv 1 0 0 0 1 0\n")
    cloud = load_mesh(tmp_path / "cloud.obj")
    assert cloud.is_point_cloud and cloud.colors.tolist() == [[255, 0, 0], [0, 255, 0]]


# --- refinement ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scene():
    v, f, _, vobject = boxes_on_floor()
    return v, f, vobject, compute_superpoints(v, f)


def _prediction(v, truth, seed=0):
    """A voxel-ish cloud over the mesh (2 points per vertex, 1 cm jitter) with true labels;
    vertices on a box's seam with the floor (either) are labelled floor."""
    rng = np.random.default_rng(seed)
    pts = np.repeat(v, 2, axis=0) + rng.normal(0, 0.01, (2 * len(v), 3))
    return pts, np.repeat(np.maximum(truth, 0), 2), rng


def test_refinement_removes_bleed_and_fills_holes(scene):
    v, f, truth, sp = scene
    pts, ids, rng = _prediction(v, truth)
    exact = ids.copy()
    box1 = v[truth == 1]
    near1 = np.linalg.norm(pts[:, None, :2] - box1[None, ::7, :2], axis=2).min(1) < 0.08
    ids[(exact == 0) & near1] = 1  # the mask bleeds onto the floor around box 1
    holes = (exact > 0) & (rng.random(len(ids)) < 0.3)
    ids[holes] = 0  # and misses 30% of both boxes
    speckle = (exact == 0) & (rng.random(len(ids)) < 0.02)
    ids[speckle] = 2  # and box 2 has stray points all over the floor
    assert (ids != exact).mean() > 0.1
    out = refine_with_superpoints(v, f, sp, pts, ids, {1: 0.9, 2: 0.7})
    inside = truth >= 0
    assert np.array_equal(out.vertex_ids[inside], truth[inside])
    point_truth = np.repeat(truth, 2)
    on = point_truth >= 0
    assert np.array_equal(out.point_ids[on], point_truth[on])
    assert {(i.id, i.source_id, i.score) for i in out.instances} == {(1, 1, 0.9), (2, 2, 0.7)}
    assert out.scores == {1: 0.9, 2: 0.7}
    assert all(i.vertex_count == int((out.vertex_ids == i.id).sum()) for i in out.instances)


def test_instance_spanning_two_boxes_is_split(scene):
    v, f, truth, sp = scene
    pts, ids, _ = _prediction(v, truth, seed=1)
    ids[ids > 0] = 7  # one prediction over both boxes
    out = refine_with_superpoints(v, f, sp, pts, ids, {7: 0.8})
    assert len(out.instances) == 2 and {i.source_id for i in out.instances} == {7}
    inside = truth > 0
    assert regions(out.vertex_ids, inside) == regions(truth, inside)  # one id per box
    main, extra = sorted(out.instances, key=lambda i: i.id)
    assert main.id == 7 and main.score == 0.8 and extra.id == 8
    # the box with more votes (the larger, box 2) keeps id and score, the other is scaled
    assert (out.vertex_ids[truth == 2] == 7).all() and (out.vertex_ids[truth == 1] == 8).all()
    assert extra.score == pytest.approx(0.8 * (truth == 1).sum() / (truth == 2).sum(), rel=0.1)
    # with mesh edges only, and with a gap wider than the 0.25 m between the boxes
    assert len(refine_with_superpoints(v, f, sp, pts, ids, split_gap=0).instances) == 2
    assert len(refine_with_superpoints(v, f, sp, pts, ids, split_gap=0.3).instances) == 1


def test_unseen_superpoints_stay_unlabelled_and_keep_point_ids(scene):
    v, f, truth, sp = scene
    pts, ids, _ = _prediction(v, truth, seed=2)
    box2 = v[truth == 2]
    lo, hi = box2.min(0) - 0.1, box2.max(0) + 0.1
    keep = ~((pts >= lo) & (pts <= hi)).all(1)  # nothing scanned around box 2 ...
    pts, ids = pts[keep], ids[keep]
    top2 = v[(truth == 2) & (v[:, 2] > 0.29)][:3]  # ... but a few points on its top
    pts, ids = np.vstack([pts, top2]), np.append(ids, [5, 5, 5])
    out = refine_with_superpoints(v, f, sp, pts, ids)
    assert (out.vertex_ids[truth == 2] == 0).all()
    assert (out.superpoint_ids[np.unique(sp[truth == 2])] == -1).all()  # undecided
    assert out.point_ids[-3:].tolist() == [5, 5, 5]  # the mesh could not tell: unchanged
    assert (out.vertex_ids[truth == 1] == 1).all()


def test_refine_scene_result_carries_instance_metadata(scene):
    v, f, truth, sp = scene
    pts, ids, _ = _prediction(v, truth, seed=3)
    ids[ids > 0] = 4
    colors = np.full((len(pts), 3), 200, np.uint8)
    inst = Instance(id=4, points=pts[ids == 4].astype(np.float32), score=0.6, label="box",
                    feature=np.ones(8, np.float32), observations=9)
    ghost = Instance(id=9, points=pts[:0].astype(np.float32), score=0.5)  # no points left
    result = SceneResult(pts.astype(np.float32), colors, ids.astype(np.int32), [inst, ghost])
    mesh = check_mesh(v, f)
    refined, ref = refine_scene_result(result, mesh, sp)
    assert [i.id for i in refined.instances] == [4, 10]  # new ids come after every known id
    for i in refined.instances:
        assert i.label == "box" and i.observations == 9 and np.array_equal(i.feature, inst.feature)
        assert np.array_equal(i.points, refined.points[refined.instance_ids == i.id])
        assert len(i.colors) == len(i.points)
    assert refined.meta["superpoints"]["count"] == sp.max() + 1
    assert {"superpoints", "superpoint_refine"} <= set(refined.timings)
    assert np.array_equal(ref.point_ids, refined.instance_ids)


@pytest.fixture(scope="module")
def synthetic_rooms(tmp_path_factory):
    from ot3d_engine.synth import generate_scene

    rooms = []
    for seed in (1, 2):
        path = tmp_path_factory.mktemp(f"room{seed}") / "scan"
        generate_scene(path, seed=seed, frames=12)
        rooms.append(path)
    return rooms


def test_refinement_never_lowers_ap_on_synthetic_rooms(synthetic_rooms):
    from ot3d_engine.eval.ap import evaluate
    from ot3d_engine.io import load_scan
    from ot3d_engine.pipeline import run_pipeline

    before, after = [], []
    for path in synthetic_rooms:
        scan = load_scan(path)
        result = run_pipeline(scan)
        mesh = load_mesh(scan.mesh_path, require_faces=True)  # the room's scene_mesh.ply
        refined, _ = refine_scene_result(result, mesh)
        b = evaluate(scan.ground_truth, result.points, result.instance_ids,
                     {i.id: i.score for i in result.instances})
        a = evaluate(scan.ground_truth, refined.points, refined.instance_ids,
                     {i.id: i.score for i in refined.instances})
        assert b.counts["gt_instances"] >= 5
        assert a.ap >= b.ap, (path.parent.name, b.to_dict(), a.to_dict())
        before.append((b.ap, b.ap50, b.ap25))
        after.append((a.ap, a.ap50, a.ap25))
    before, after = np.mean(before, axis=0), np.mean(after, axis=0)
    assert np.all(after >= before), (before, after)  # AP50 and AP25 over the suite too
    assert after[0] > before[0]  # and the main metric actually improves


def test_mesh_is_parsed_once_per_run_and_again_when_the_file_changes(tmp_path, monkeypatch):
    """The CLI checks the mesh before the first frame and refinement needs it at the end:
    one parse for both; a rewritten file is read anew."""
    import ot3d_engine.io.mesh as mesh_module
    from ot3d_engine.cli import main
    from ot3d_engine.synth import generate_scene

    room = generate_scene(tmp_path / "room", seed=0, frames=3, width=96, height=72)
    parses = []
    real_parse = mesh_module._parse_mesh
    monkeypatch.setattr(mesh_module, "_parse_mesh", lambda path: parses.append(path) or real_parse(path))
    monkeypatch.setattr(mesh_module, "_last_loaded", None)
    assert main(["segment", str(room), "--out", str(tmp_path / "seg"), "--superpoints"]) == 0
    assert parses == [room / "scene_mesh.ply"]
    assert (tmp_path / "seg" / "mesh_instance_ids.txt").is_file()
    first = load_mesh(room / "scene_mesh.ply")
    assert len(parses) == 1
    vertex, faces = read_ply(room / "scene_mesh.ply")
    write_ply(room / "scene_mesh.ply", {k: vertex[k] for k in ("x", "y", "z")}, faces[:10])
    second = load_mesh(room / "scene_mesh.ply")
    assert len(parses) == 2 and len(second.faces) == 10 < len(first.faces)
