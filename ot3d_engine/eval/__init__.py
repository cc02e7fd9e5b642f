"""ScanNet-protocol instance segmentation AP for pipeline outputs."""

from .ap import OVERLAPS, APResult, ClassAP, average_precision, evaluate
from .files import Prediction, load_ground_truth, load_prediction
from .report import format_table
from .transfer import transfer_instance_ids

__all__ = ["OVERLAPS", "APResult", "ClassAP", "average_precision", "evaluate", "Prediction",
           "load_ground_truth", "load_prediction", "format_table", "transfer_instance_ids"]
