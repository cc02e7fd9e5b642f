"""What the add-on puts into and reads out of the .blend: the segmentation's objects and
attributes (segmentation.py), materializing engine results (materialize.py), how clouds
look (display.py), corrections on the data (corrections.py), the export writer (export.py),
where job folders go (job_folders.py) and each scene's transient job state (job_status.py)."""
