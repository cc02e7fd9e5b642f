"""Write real 7-Scenes frames in the capture formats, each from its published specification.

No public sample of the phone formats can be had here, so the tests (and
benchmarks/formats_bench.py) build them from real Kinect frames: real depth noise and
holes, real poses. Each writer stores the data the way that format does: colour at a
higher resolution than depth with K for the colour image, OpenGL/ARKit camera axes,
column-major K, world-to-camera poses, LZFSE-compressed float metres, a video, separate
clocks... so that a reader which gets a convention wrong gives a different cloud.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.spatial.transform import Rotation

from ot3d_engine.io.images import scale_intrinsics

GL = np.diag([1.0, -1.0, -1.0, 1.0])  # OpenCV <-> OpenGL camera axes (its own inverse)
UP = 2  # colour is written UP times the depth resolution where the format records it larger


@dataclass
class SourceFrame:
    number: int
    color: np.ndarray  # HxWx3 uint8, 640x480 as recorded
    depth_mm: np.ndarray  # HxW uint16 millimetres, 0 = none (65535 mapped to 0)
    pose: np.ndarray  # 4x4 camera-to-world, OpenCV axes


def read_source(folder: Path, count: int) -> tuple[list[SourceFrame], np.ndarray]:
    """The first `count` frames of a 7-Scenes folder, read directly from its files."""
    K = np.loadtxt(folder / "camera-intrinsics.txt")
    frames = []
    for depth in sorted(folder.glob("frame-*.depth.png"))[:count]:
        stem = depth.name.split(".")[0]
        d = np.asarray(Image.open(depth)).astype(np.uint16)
        d = np.where(d == 65535, 0, d).astype(np.uint16)
        c = np.asarray(Image.open(folder / f"{stem}.color.jpg").convert("RGB"))
        frames.append(SourceFrame(int(stem[6:]), c, d, rigid(np.loadtxt(folder / f"{stem}.pose.txt"))))
    return frames, K


def rigid(pose: np.ndarray) -> np.ndarray:
    """The nearest exact rotation: the text poses are orthonormal to ~1e-4 only, and formats that
    store quaternions would each round that differently."""
    U, _, Vt = np.linalg.svd(pose[:3, :3])
    out = pose.copy()
    out[:3, :3] = U @ Vt
    return out


def _up(n: int, factor: float | None) -> int:
    return int(round(n * (UP if factor is None else factor)))


def upsampled(color: np.ndarray, factor: float | None = None) -> np.ndarray:
    h, w = color.shape[:2]
    return np.asarray(Image.fromarray(color).resize((_up(w, factor), _up(h, factor)), Image.BILINEAR))


def color_K(K: np.ndarray, shape: tuple[int, int], factor: float | None = None) -> np.ndarray:
    """K of the colour image UP times larger than the depth image `shape`."""
    h, w = shape
    return scale_intrinsics(K, (h, w), (_up(h, factor), _up(w, factor)))


def png16(path: Path, a: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(a.astype(np.uint16))).save(path)


def image(path: Path, a: np.ndarray, quality: int = 95) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path, quality=quality) if path.suffix == ".jpg" else Image.fromarray(a).save(path)


def quat_xyzw(R: np.ndarray) -> np.ndarray:
    return Rotation.from_matrix(R).as_quat()  # scipy order: x, y, z, w


# ---------------------------------------------------------------- formats

def write_sevenscenes(out: Path, frames, K) -> None:
    """The reference: 7-Scenes files (colour as lossless PNG), the same frames as every format."""
    out.mkdir(parents=True, exist_ok=True)
    np.savetxt(out / "camera-intrinsics.txt", K)
    for f in frames:
        stem = f"frame-{f.number:06d}"
        image(out / f"{stem}.color.png", f.color)
        png16(out / f"{stem}.depth.png", f.depth_mm)
        np.savetxt(out / f"{stem}.pose.txt", f.pose, fmt="%.12f")


def write_tum(out: Path, frames, K=None, extra_rgb: bool = True) -> dict:
    """rgb.txt/depth.txt/groundtruth.txt on three clocks; depth x5 (5000 per metre).

    Colour runs 11 ms after depth, poses at 100 Hz around it (the right one 3 ms away), and
    rgb.txt has an extra image between every two frames: pairing by line number is wrong."""
    rgb_lines, depth_lines, gt_lines = ["# color images"], ["# depth maps"], ["# timestamp tx ty tz qx qy qz qw"]
    for i, f in enumerate(frames):
        t = 1311868164.0 + 0.5 * i
        png16(out / "depth" / f"{t:.6f}.png", f.depth_mm.astype(np.uint32) * 5)
        image(out / "rgb" / f"{t + 0.011:.6f}.png", f.color)
        rgb_lines.append(f"{t + 0.011:.6f} rgb/{t + 0.011:.6f}.png")
        if extra_rgb:  # an unrelated image 0.25 s later: the colour stream has more frames
            image(out / "rgb" / f"{t + 0.25:.6f}.png", np.zeros_like(f.color))
            rgb_lines.append(f"{t + 0.25:.6f} rgb/{t + 0.25:.6f}.png")
        depth_lines.append(f"{t:.6f} depth/{t:.6f}.png")
        for dt, pose in ((-0.04, frames[max(i - 1, 0)].pose), (0.003, f.pose), (0.05, frames[min(i + 1, len(frames) - 1)].pose)):
            q = quat_xyzw(pose[:3, :3])
            gt_lines.append(f"{t + dt:.4f} " + " ".join(f"{v:.9f}" for v in (*pose[:3, 3], *q)))
    gt_lines = [gt_lines[0]] + sorted(gt_lines[1:], key=lambda s: float(s.split()[0]))
    for name, lines in (("rgb.txt", rgb_lines), ("depth.txt", depth_lines), ("groundtruth.txt", gt_lines)):
        (out / name).write_text("\n".join(lines) + "\n")
    return {"intrinsics": K}


def write_nerfstudio(out: Path, frames, K, depth_unit: float = 1e-3, per_frame: bool = False) -> None:
    """transforms.json, OpenGL camera-to-world, colour 2x the depth size, K for the colour."""
    h, w = frames[0].depth_mm.shape
    Kc = color_K(K, (h, w))
    cam = {"fl_x": Kc[0, 0], "fl_y": Kc[1, 1], "cx": Kc[0, 2], "cy": Kc[1, 2], "w": _up(w, None), "h": _up(h, None)}
    data = {"camera_model": "OPENCV", "frames": []}
    if not per_frame:
        data.update(cam)
    if depth_unit != 1e-3:
        data["depth_unit_scale_factor"] = depth_unit
    for i, f in enumerate(frames):
        image(out / "images" / f"frame_{i + 1:05d}.jpg", upsampled(f.color))
        raw = np.rint(f.depth_mm.astype(np.float64) * 1e-3 / depth_unit)
        png16(out / "depth" / f"frame_{i + 1:05d}.png", raw)
        fr = {"file_path": f"images/frame_{i + 1:05d}.jpg", "depth_file_path": f"depth/frame_{i + 1:05d}.png",
              "transform_matrix": (f.pose @ GL).tolist()}
        if per_frame:
            fr.update(cam)
        data["frames"].append(fr)
    (out / "transforms.json").write_text(json.dumps(data, indent=1))


def lzfse_bytes(a: np.ndarray) -> bytes:
    import lzfse

    return lzfse.compress(np.ascontiguousarray(a).tobytes())


def write_record3d(out: Path, frames, K, zipped: bool = True) -> Path:
    """metadata (K column-major for the colour image, poses qx qy qz qw tx ty tz, OpenGL axes),
    rgbd/N.jpg at 2x, N.depth LZFSE float32 metres, N.conf LZFSE uint8 (2 where depth, else 0)."""
    h, w = frames[0].depth_mm.shape
    Kc = color_K(K, (h, w))
    poses = []
    members = {}
    for i, f in enumerate(frames):
        gl = f.pose @ GL
        poses.append([*quat_xyzw(gl[:3, :3]), *gl[:3, 3]])
        buf = _jpeg(upsampled(f.color))
        members[f"rgbd/{i}.jpg"] = buf
        members[f"rgbd/{i}.depth"] = lzfse_bytes(f.depth_mm.astype(np.float32) / 1000.0)
        members[f"rgbd/{i}.conf"] = lzfse_bytes(np.where(f.depth_mm > 0, 2, 0).astype(np.uint8))
    meta = {"K": Kc.T.ravel().tolist(), "w": _up(w, None), "h": _up(h, None), "dw": w, "dh": h, "fps": 30,
            "poses": poses, "cameraType": 1}
    members["metadata"] = json.dumps(meta).encode()
    if zipped:
        target = out.with_suffix(".r3d")
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(target, "w") as z:
            for name, data in members.items():
                z.writestr(name, data)
        return target
    for name, data in members.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    return out


def _jpeg(a: np.ndarray) -> bytes:
    import io

    b = io.BytesIO()
    Image.fromarray(a).save(b, format="JPEG", quality=95)
    return b.getvalue()


def write_video(path: Path, images: list[np.ndarray], codec: str = "libx265", lossless: bool = True) -> None:
    """HEVC like the app. Lossless 4:4:4 by default: the instance-count comparison should
    measure the reader, not the codec's colour noise (lossy 4:2:0 moves colour ~1.6 levels,
    enough to flip one borderline merge); the benchmark writes the app's lossy 4:2:0."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=30)
        s.height, s.width = images[0].shape[:2]
        s.pix_fmt = "yuv444p" if lossless else "yuv420p"
        # one encoder thread, no B-frames: the same packets whatever the machine's load
        params = ("lossless=1:" if lossless else "") + "log-level=error:frame-threads=1:pools=none:bframes=0"
        s.options = {"preset": "ultrafast", **({"x265-params": params} if codec == "libx265" else {})}
        if not lossless:
            s.options["crf"] = "20"
        for i, a in enumerate(images):
            frame = av.VideoFrame.from_ndarray(a, format="rgb24")
            frame.pts = i  # explicit timestamps: the muxer rejects guessed ones on short streams
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)


def write_strayscanner(out: Path, frames, K, video_frames: int | None = None, lossless: bool = True,
                       per_frame_K: bool = False) -> None:
    """rgb.mp4 (HEVC, 2x), depth/ mm PNG, confidence/ 0..2, camera_matrix.csv for the video,
    odometry.csv camera-to-world OpenCV axes."""
    h, w = frames[0].depth_mm.shape
    Kc = color_K(K, (h, w))
    n_video = len(frames) if video_frames is None else video_frames
    write_video(out / "rgb.mp4", [upsampled(f.color) for f in frames[:n_video]], lossless=lossless)
    rows = ["timestamp, frame, x, y, z, qx, qy, qz, qw" + (", fx, fy, cx, cy, distortion_center_x, "
                                                          "distortion_center_y" if per_frame_K else "")]
    for i, f in enumerate(frames):
        png16(out / "depth" / f"{i:06d}.png", f.depth_mm)
        image(out / "confidence" / f"{i:06d}.png", np.where(f.depth_mm > 0, 2, 0).astype(np.uint8))
        q = quat_xyzw(f.pose[:3, :3])
        k = f", {Kc[0, 0]:.6f}, {Kc[1, 1]:.6f}, {Kc[0, 2]:.6f}, {Kc[1, 2]:.6f}, , " if per_frame_K else ""
        rows.append(f"{1000 + i / 30:.6f}, {i}, " + ", ".join(f"{v:.9f}" for v in (*f.pose[:3, 3], *q)) + k)
    (out / "odometry.csv").write_text("\n".join(rows) + "\n")
    (out / "camera_matrix.csv").write_text("\n".join(",".join(f"{v:.6f}" for v in row) for row in Kc) + "\n")


def write_polycam(out: Path, frames, K, corrected: bool = True) -> None:
    """keyframes/{corrected_,}images|cameras (t_00..t_23 row-major 3x4, ARKit axes), depth mm, confidence 0/255."""
    h, w = frames[0].depth_mm.shape
    Kc = color_K(K, (h, w))
    pre = "corrected_" if corrected else ""
    k = out / "keyframes"
    for i, f in enumerate(frames):
        t = 1668000000000 + 33333 * i  # microseconds
        image(k / f"{pre}images" / f"{t}.jpg", upsampled(f.color))
        gl = (f.pose @ GL)[:3]
        cam = {"fx": Kc[0, 0], "fy": Kc[1, 1], "cx": Kc[0, 2], "cy": Kc[1, 2], "width": _up(w, None), "height": _up(h, None),
               "blur_score": 100.0, "timestamp": t, **{f"t_{r}{c}": gl[r, c] for r in range(3) for c in range(4)}}
        (k / f"{pre}cameras").mkdir(parents=True, exist_ok=True)
        (k / f"{pre}cameras" / f"{t}.json").write_text(json.dumps(cam))
        png16(k / "depth" / f"{t}.png", f.depth_mm)
        image(k / "confidence" / f"{t}.png", np.where(f.depth_mm > 0, 255, 0).astype(np.uint8))


def write_scannerapp(out: Path, frames, K) -> None:
    """frame_N.jpg (2x) + frame_N.json (row-major c2w ARKit axes, row-major K of the colour),
    depth_N.png mm, conf_N.png 0..2; plus a depth-only frame, as the app keeps colour for fewer frames."""
    h, w = frames[0].depth_mm.shape
    Kc = color_K(K, (h, w))
    out.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        image(out / f"frame_{i:05d}.jpg", upsampled(f.color))
        (out / f"frame_{i:05d}.json").write_text(json.dumps({
            "cameraPoseARFrame": (f.pose @ GL).ravel().tolist(), "intrinsics": Kc.ravel().tolist(),
            "frame_index": i, "time": 100 + i / 60, "motionQuality": 1.0}))
        png16(out / f"depth_{i:05d}.png", f.depth_mm)
        image(out / f"conf_{i:05d}.png", np.where(f.depth_mm > 0, 2, 0).astype(np.uint8))
    png16(out / f"depth_{len(frames):05d}.png", frames[-1].depth_mm)  # depth without colour: not a frame


def write_arkitscenes(out: Path, frames, K, video_id: str = "41069025") -> Path:
    """<id>_frames/: lowres_wide, lowres_depth, .pincam, lowres_wide.traj (world-to-camera, axis-angle)."""
    root = out / f"{video_id}_frames"
    h, w = frames[0].depth_mm.shape
    traj = []
    for i, f in enumerate(frames):
        t = 6845.123 + 0.1 * i
        name = f"{video_id}_{t:.3f}"
        image(root / "lowres_wide" / f"{name}.png", f.color)
        png16(root / "lowres_depth" / f"{name}.png", f.depth_mm)
        (root / "lowres_wide_intrinsics").mkdir(parents=True, exist_ok=True)
        (root / "lowres_wide_intrinsics" / f"{name}.pincam").write_text(
            f"{w} {h} {K[0, 0]} {K[1, 1]} {K[0, 2]} {K[1, 2]}\n")
        w2c = np.linalg.inv(f.pose)
        rv = Rotation.from_matrix(w2c[:3, :3]).as_rotvec()
        traj.append(f"{t + 0.004:.6f} " + " ".join(f"{v:.9f}" for v in (*rv, *w2c[:3, 3])))
    (root / "lowres_wide.traj").write_text("\n".join(traj) + "\n")
    return root


WRITERS = {
    "7scenes": write_sevenscenes,
    "tum": write_tum, "nerfstudio": write_nerfstudio, "record3d": write_record3d,
    "strayscanner": write_strayscanner, "polycam": write_polycam, "3dscannerapp": write_scannerapp,
    "arkitscenes": write_arkitscenes,
}


def write_format(name: str, out: Path, frames, K, lossless_video: bool = True) -> tuple[Path, dict]:
    """(scan path, load_scan options) of `frames` written in format `name` under `out`."""
    target = out / name
    target.mkdir(parents=True, exist_ok=True)
    if name == "strayscanner":
        write_strayscanner(target, frames, K, lossless=lossless_video)
        return target, {}
    if name == "tum":  # the folder name says no freiburg camera: intrinsics come from the option
        write_tum(target, frames)
        return target, {"intrinsics": f"{K[0, 0]},{K[1, 1]},{K[0, 2]},{K[1, 2]}"}
    if name == "record3d":
        return write_record3d(target / "scan", frames, K), {}
    if name == "arkitscenes":
        write_arkitscenes(target, frames, K)
        return target, {}
    WRITERS[name](target, frames, K)
    return target, {}
