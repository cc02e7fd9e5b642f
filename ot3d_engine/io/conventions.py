"""Camera conventions of every capture format, converted to the engine's in one place.

The engine wants a 4x4 camera-to-world pose whose camera frame is OpenCV's (+x right,
+y down, +z forward), metres, and 3x3 intrinsics of the depth image. Capture formats
differ in three independent ways, each a parameter here rather than code in a reader:

- camera axes: "opencv" (7-Scenes, TUM, Stray Scanner, ARKitScenes) or "opengl"
  (+x right, +y up, +z backward: nerfstudio, ARKit/Record3D/Polycam/3D Scanner App);
- direction: "camera_to_world" or "world_to_camera" (ARKitScenes' .traj);
- how K is stored: row-major 3x3, column-major (Record3D), or fx fy cx cy numbers, and
  for which image size (colour or depth); `depth_intrinsics` scales it to the depth grid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ScanError
from .frames import quaternion_poses
from .images import scale_intrinsics

# Right-multiplying a camera-to-world pose by this flips the camera's y and z axes:
# an OpenGL/ARKit camera (y up, looking down -z) becomes an OpenCV one (y down, looking down +z).
OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])
AXES = ("opencv", "opengl")
DIRECTIONS = ("camera_to_world", "world_to_camera")


def engine_poses(matrices: np.ndarray, *, axes: str, direction: str = "camera_to_world") -> np.ndarray:
    """Nx4x4 (or Nx3x4) poses in a format's convention -> engine camera-to-world, OpenCV axes."""
    if axes not in AXES or direction not in DIRECTIONS:
        raise ValueError(f"unknown convention axes={axes!r} direction={direction!r}")
    m = np.asarray(matrices, dtype=np.float64)
    single = m.ndim == 2
    m = m.reshape(-1, m.shape[-2], 4)
    if m.shape[1] == 3:  # 3x4: add the bottom row
        m = np.concatenate([m, np.broadcast_to([[[0.0, 0.0, 0.0, 1.0]]], (len(m), 1, 4))], axis=1)
    if direction == "world_to_camera":
        m = _invert_rigid(m)
    if axes == "opengl":
        m = m @ OPENGL_TO_OPENCV
    return m[0] if single else m


def quaternion_pose_rows(values: np.ndarray, order: str) -> np.ndarray:
    """Rows of 7 numbers -> Nx4x4 (no axis change). `order` names the columns, e.g.
    "tx ty tz qx qy qz qw" (TUM, Stray Scanner) or "qx qy qz qw tx ty tz" (Record3D)."""
    names = order.split()
    want = ["tx", "ty", "tz", "qx", "qy", "qz", "qw"]
    if sorted(names) != sorted(want):
        raise ValueError(f"bad quaternion column order {order!r}")
    values = np.asarray(values, dtype=np.float64).reshape(-1, 7)
    return quaternion_poses(values[:, [names.index(k) for k in want]])


def axis_angle_poses(values: np.ndarray) -> np.ndarray:
    """Rows of `rx ry rz tx ty tz` (Rodrigues vector, translation) -> Nx4x4, as stored."""
    from scipy.spatial.transform import Rotation

    values = np.asarray(values, dtype=np.float64).reshape(-1, 6)
    T = np.tile(np.eye(4), (len(values), 1, 1))
    T[:, :3, :3] = Rotation.from_rotvec(values[:, :3]).as_matrix()
    T[:, :3, 3] = values[:, 3:]
    return T


def intrinsics_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64)


def intrinsics_from_values(values, *, column_major: bool, source: Path | str) -> np.ndarray:
    """Nine numbers -> 3x3 K; raises if the result is not an upper-triangular pinhole K."""
    try:
        K = np.asarray(values, dtype=np.float64).reshape(3, 3)
    except (TypeError, ValueError):
        raise ScanError(source, f"intrinsics must be 9 numbers, got {values!r}") from None
    if column_major:
        K = K.T
    check_intrinsics(K, source)
    return K


def check_intrinsics(K: np.ndarray, source: Path | str) -> None:
    K = np.asarray(K, dtype=np.float64)
    if not np.isfinite(K).all():
        raise ScanError(source, "intrinsics contain inf/NaN")
    if abs(K[2, 0]) + abs(K[2, 1]) > 1e-9 or abs(K[1, 0]) > 1e-9 or abs(K[2, 2] - 1) > 1e-6:
        raise ScanError(source, f"intrinsics are not a pinhole matrix [[fx,0,cx],[0,fy,cy],[0,0,1]]: "
                                f"{np.round(K, 3).tolist()} (stored transposed?)")
    if not (K[0, 0] > 0 and K[1, 1] > 0):
        raise ScanError(source, f"focal lengths must be positive, got fx={K[0, 0]}, fy={K[1, 1]}")


def depth_intrinsics(K: np.ndarray, image_size: tuple[int, int] | None, depth_size: tuple[int, int],
                     source: Path | str) -> np.ndarray:
    """K given for an image of `image_size` (h, w), e.g. the colour image -> K of the depth grid.

    Phones record depth at a lower resolution than colour (256x192 vs 1920x1440) and
    store the colour camera's K; the two images must show the same field of view."""
    if image_size is None or tuple(image_size) == tuple(depth_size):
        return np.asarray(K, dtype=np.float64).copy()
    (h, w), (dh, dw) = image_size, depth_size
    if abs(w / h - dw / dh) > 0.02 * (w / h):
        raise ScanError(source, f"intrinsics are for a {w}x{h} image but the depth image is {dw}x{dh} "
                                f"(a different aspect ratio: rotated or cropped?)")
    return scale_intrinsics(K, (h, w), (dh, dw))


def parse_intrinsics_option(text: str) -> tuple[np.ndarray, tuple[int, int] | None]:
    """`--intrinsics fx,fy,cx,cy[,width,height]` -> (K, (h, w) or None = the depth image's)."""
    parts = [p for p in str(text).replace(" ", "").split(",") if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (4, 6) or not all(np.isfinite(values)):
        raise ValueError(f"--intrinsics needs fx,fy,cx,cy (or fx,fy,cx,cy,width,height), got {text!r}")
    fx, fy, cx, cy = values[:4]
    if not (fx > 0 and fy > 0):
        raise ValueError(f"--intrinsics focal lengths must be positive, got {text!r}")
    size = None
    if len(values) == 6:
        if values[4] < 1 or values[5] < 1 or not float(values[4]).is_integer() or not float(values[5]).is_integer():
            raise ValueError(f"--intrinsics width and height must be whole pixels, got {text!r}")
        size = (int(values[5]), int(values[4]))
    return intrinsics_matrix(fx, fy, cx, cy), size


def _invert_rigid(T: np.ndarray) -> np.ndarray:
    R = T[:, :3, :3]
    t = T[:, :3, 3]
    out = np.tile(np.eye(4), (len(T), 1, 1))
    Rt = np.transpose(R, (0, 2, 1))
    out[:, :3, :3] = Rt
    out[:, :3, 3] = -np.einsum("nij,nj->ni", Rt, t)
    return out
