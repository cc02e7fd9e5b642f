"""Stage 4: the online visual-spatial tracker."""
