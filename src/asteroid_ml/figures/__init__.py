"""Paper figures: one pure plotting function per figure, one loader per figure.

- :mod:`.style`: the style, the palette, the model and population styles, saving;
- :mod:`.simulation`, :mod:`.dataset`, :mod:`.training`, :mod:`.evaluation`, :mod:`.detection`: the
  plotting functions of each stage (tables in, :class:`~matplotlib.figure.Figure` out);
- :mod:`.registry`: figure name -> loader (files in, figure out), :func:`make_figure`.
"""

from __future__ import annotations

from asteroid_ml.figures.dataset import (
    asinh_stretch,
    plot_example_cutouts,
    plot_sky_map,
    select_examples,
    tile_outlines,
)
from asteroid_ml.figures.detection import plot_detection_completeness, plot_impactor_visibility
from asteroid_ml.figures.evaluation import (
    plot_completeness,
    plot_confusion_matrices,
    plot_hazard,
    plot_hoi_real_catalog,
    plot_roc_pr,
    plot_score_histograms,
)
from asteroid_ml.figures.registry import FIGURES, make_figure
from asteroid_ml.figures.simulation import (
    plot_clone_calibration,
    plot_close_approach_validation,
    plot_orbital_elements,
    real_neo_elements,
)
from asteroid_ml.figures.style import (
    COLUMN_WIDTH_IN,
    MODEL_STYLE,
    PAGE_WIDTH_IN,
    STYLE,
    figure_style,
    save_figure,
)
from asteroid_ml.figures.training import epoch_losses, plot_training_curves

__all__ = [
    "COLUMN_WIDTH_IN",
    "FIGURES",
    "MODEL_STYLE",
    "PAGE_WIDTH_IN",
    "STYLE",
    "asinh_stretch",
    "epoch_losses",
    "figure_style",
    "make_figure",
    "plot_clone_calibration",
    "plot_close_approach_validation",
    "plot_completeness",
    "plot_detection_completeness",
    "plot_impactor_visibility",
    "plot_confusion_matrices",
    "plot_example_cutouts",
    "plot_hazard",
    "plot_hoi_real_catalog",
    "plot_orbital_elements",
    "plot_roc_pr",
    "plot_score_histograms",
    "plot_sky_map",
    "plot_training_curves",
    "real_neo_elements",
    "save_figure",
    "select_examples",
    "tile_outlines",
]
