"""Run the analyses in notebooks/ against the service's own database (its settings, never a typed URL).

The notebooks connect with ``geo_service.settings`` (``GEO_SERVICE_DATABASE_URL``, else the embedded cluster
with its generated password), so ``geo-service notebooks run NAME`` only has to start the database and pass
the notebook's parameters (environment variables the notebook documents) to the kernel.
"""

from __future__ import annotations

import os
from pathlib import Path

from geo_service.errors import InvalidInput, NotFound

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"


def available() -> list[str]:
    """The notebooks in notebooks/, by name."""
    return sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.ipynb"))


def run_notebook(name: str, output: Path, parameters: dict[str, str] | None = None, timeout: int = 600) -> Path:
    """Execute ``notebooks/NAME.ipynb`` in a fresh kernel and write the executed copy to ``output``.

    ``parameters`` become environment variables of the kernel (e.g. REVIEW_DISTRICT). A cell that fails is
    reported as InvalidInput with the cell's error (the executed copy, with the error in it, is still written).
    """
    # nbclient and nbformat (Jupyter) are only needed here, not by the service.
    try:
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
    except ImportError:  # pragma: no cover - depends on the installation
        raise InvalidInput(
            "Running notebooks needs nbclient, nbformat and ipykernel: pip install -e '.[test]'.",
            code="notebook_dependencies",
        ) from None
    path = NOTEBOOKS_DIR / f"{name.removesuffix('.ipynb')}.ipynb"
    if name not in available() and path.stem not in available():
        raise NotFound(
            f"No notebook '{name}'. Notebooks: {', '.join(available()) or 'none'}.", code="notebook_not_found"
        )
    nb = nbformat.read(path, as_version=4)
    saved = {k: os.environ.get(k) for k in parameters or {}}
    os.environ.update(parameters or {})
    try:
        NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}
        ).execute()
    except CellExecutionError as exc:
        nbformat.write(nb, output)
        error: dict = next(
            (o for cell in nb.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"), {}
        )
        raise InvalidInput(
            f"The notebook stopped at an error: {error.get('ename', 'error')}: "
            f"{error.get('evalue', str(exc).splitlines()[0] if str(exc) else '')} "
            f"(executed copy with the error: {output})",
            code="notebook_failed",
        ) from None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    output.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, output)
    return output


def printed_lines(path: Path) -> list[str]:
    """The text the notebook's code cells printed, line by line."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return [
        line
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.get("outputs", [])
        for line in o.get("text", "").splitlines()
    ]
