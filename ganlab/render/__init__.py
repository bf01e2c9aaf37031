"""Images of a GAN with Pillow: the data view (:func:`render_view`), grids of image samples
(:func:`image_grid`), curves over epochs (:func:`plot_curves`), values per setting
(:func:`plot_ranges`) and animations (:class:`Animation`).

One renderer for the CLI, the runs' thumbnails and any server-made picture; it reads the layers
from :mod:`ganlab.views` and the trainer, so there is no second copy of the math. Colours are the
page's (static/dataview.js): green real, purple fake.
"""

from .animate import FORMATS, Animation, GridAnimation, animation_format, encode
from .chart import plot_curves
from .dataview import ViewSpec, render_view
from .extent import AutoExtent, needed_extent
from .grid import image_grid
from .ranges import plot_ranges

__all__ = ["FORMATS", "Animation", "AutoExtent", "GridAnimation", "ViewSpec", "animation_format", "encode",
           "image_grid", "needed_extent", "plot_curves", "plot_ranges", "render_view"]
