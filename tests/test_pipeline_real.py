"""The mesh-free pipeline on real Kinect data (../shared/data)."""

import numpy as np
import open3d as o3d
import pytest
from PIL import Image

from ot3d_engine.io import load_scan
from ot3d_engine.output.scene_io import read_scene, write_scene
from ot3d_engine.pipeline import run_pipeline
from ot3d_engine.registry import build
from ot3d_engine.track.visibility import DepthView


@pytest.fixture(scope="module")
def slambook(shared_data):
    scan = load_scan(shared_data / "slambook-room")
    return scan, run_pipeline(scan)


def table_top(points: np.ndarray) -> np.ndarray:
    """Indices of the table top, found independently of our pipeline: the largest connected
    patch of a plane parallel to the floor (the biggest plane) 0.5-0.95 m above it."""
    o3d.utility.random.seed(0)  # RANSAC: same planes every run
    rest = np.arange(len(points))
    planes = []
    for _ in range(6):
        pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points[rest].astype(np.float64)))
        model, inl = pcd.segment_plane(0.03, 3, 500, probability=0.99999)
        planes.append((np.asarray(model), rest[np.asarray(inl)]))
        rest = np.delete(rest, inl)
    floor = planes[0][0]
    for model, inl in planes[1:]:
        parallel = abs(model[:3] @ floor[:3])
        height = abs(model[3] - floor[3] * np.sign(model[:3] @ floor[:3]))
        if parallel > 0.95 and 0.5 < height < 0.95:
            pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points[inl].astype(np.float64)))
            lab = np.asarray(pcd.cluster_dbscan(0.07, 5))
            biggest = np.argmax(np.bincount(lab[lab >= 0]))
            return inl[lab == biggest]
    raise AssertionError("no table-height plane found: the fused cloud is wrong")


def test_slambook_table_is_one_instance(slambook):
    scan, result = slambook
    top = table_top(result.points)
    assert len(top) > 500
    ids = result.instance_ids[top]
    labelled = ids[ids > 0]
    counts = np.bincount(labelled)
    assert counts.max() >= 0.5 * len(top), "most of the table top belongs to one instance"
    second = np.sort(counts)[-2] if np.count_nonzero(counts) > 1 else 0
    assert second <= 0.1 * len(top), "the table is not split into several instances"


def test_slambook_instances_are_not_single_frame_fragments(slambook):
    scan, result = slambook
    assert 5 <= len(result.instances) <= 50
    assert result.meta["tracks"] > len(result.instances), "refinement dropped nothing: suspicious"
    # the big objects (floor, walls, chairs seen from several poses) were tracked across frames
    biggest = sorted(result.instances, key=lambda i: -len(i.points))[:6]
    assert sum(i.observations >= 2 for i in biggest) >= 5
    # an instance observed in one frame only must be one that the other frames did not see
    # (occluded or out of view), checked by projecting it into every frame
    views = [DepthView.from_frame(scan.frame(k), 2) for k in range(len(scan))]
    for inst in result.instances:
        assert len(inst.points) >= result.meta["scale"]["refine.min_points"]["value"]
        if inst.observations == 1:
            seen_in = sum(v.visible(inst.points, 0.06).mean() > 0.5 for v in views)
            assert seen_in <= 2, f"instance {inst.id} is one frame's fragment of an object seen in {seen_in} frames"


def test_slambook_scene_files_and_preview(slambook, tmp_path):
    scan, result = slambook
    out = write_scene(result, tmp_path / "scene", scan_path=scan.path)
    png = np.asarray(Image.open(out / "preview.png"))
    assert png.shape == (480, 640, 3)
    coloured = np.any(png != 255, axis=-1).mean()
    assert coloured > 0.3, "preview is (almost) blank"
    assert len(np.unique(png.reshape(-1, 3), axis=0)) > len(result.instances)
    back = read_scene(out)
    assert np.array_equal(back.instance_ids, result.instance_ids)
    assert [i.id for i in back.instances] == [i.id for i in result.instances]
    assert all(len(a.points) == len(b.points) for a, b in zip(back.instances, result.instances))


def test_geometric_segmenter_recall_on_mosd(shared_data):
    """Real tabletop frames with per-pixel ground truth: most objects get a mask of IoU > 0.5."""
    seg = build("segmenter", "geometric")
    best = []
    for path in sorted((shared_data / "mosd").glob("test*.pcd")):
        frame = load_scan(path).frame(0)
        masks = seg.segment(frame)
        gt = frame.gt_instance
        for k in np.unique(gt[gt > 1]):  # 1 is the table
            g = gt == k
            best.append(max([(m.mask & g).sum() / (m.mask | g).sum() for m in masks], default=0.0))
    best = np.array(best)
    assert len(best) > 100
    assert (best > 0.5).mean() >= 0.75
