"""The Figure class lrkit's plots draw on: shown once in Jupyter, whatever pyplot does.

A plot made without pyplot (so that a script opens no window) was a bare ``Figure``: in a
notebook that had not imported pyplot it showed as the text ``<Figure size 700x420 with 1
Axes>``, and one made through pyplot (``finder.plot()``, where the caller uses pyplot) showed
twice as a cell's last line, once by the inline backend at the end of the cell and once as the
cell's value.

Example:
    >>> fig = NotebookFigure(figsize=(2, 1))
    >>> _ = fig.add_subplot().plot([1, 2])
    >>> fig._repr_png_()[:8], fig._ipython_display_ is None
    (b'\\x89PNG\\r\\n\\x1a\\n', True)
"""

from __future__ import annotations

import io
from collections.abc import Callable

from matplotlib.figure import Figure


class NotebookFigure(Figure):
    """A matplotlib Figure that IPython shows as its PNG, once."""

    def _repr_png_(self) -> bytes:
        """The figure as a PNG: what IPython shows where no pyplot backend formats figures."""
        buffer = io.BytesIO()
        self.savefig(buffer, format="png")
        return buffer.getvalue()

    @property
    def _ipython_display_(self) -> Callable[[], None] | None:
        """For a figure pyplot holds: shows it and lets pyplot go of it, so that the inline
        backend does not show it again at the end of the cell (whichever of the two shows it
        first). ``None`` otherwise, so that IPython formats it as any other value."""
        from matplotlib._pylab_helpers import Gcf

        if not any(manager.canvas.figure is self for manager in Gcf.get_all_fig_managers()):
            return None

        def show() -> None:
            import matplotlib.pyplot as plt
            from IPython.display import display

            plt.close(self)
            display({"image/png": self._repr_png_(), "text/plain": repr(self)}, raw=True)

        return show
