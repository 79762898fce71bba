"""Learning curves and confusion matrix as PNG files (matplotlib, no display needed)."""

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .._files import write_atomically


def _save(fig, path):
    FigureCanvasAgg(fig)
    write_atomically(path, lambda f: fig.savefig(f, format="png", dpi=100))


def plot_learning_curves(history, path):
    """Loss and accuracy per epoch, train vs validation, side by side; written to ``path``."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    epochs = history["epoch"]
    for ax, key, label in zip(fig.subplots(1, 2), ("loss", "accuracy"), ("loss", "accuracy")):
        ax.plot(epochs, history[f"train_{key}"], marker="o", label="train")
        val = history[f"val_{key}"]
        if any(v is not None for v in val):
            ax.plot(epochs, val, marker="o", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(f"{label} per epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, path)


def plot_confusion_matrix(confusion, path, class_names=None):
    """Counts of (true class, predicted class), annotated; written to ``path``."""
    n = confusion.shape[0]
    names = class_names or [str(i) for i in range(n)]
    fig = Figure(figsize=(1.0 + 0.6 * n, 0.6 + 0.6 * n), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(confusion, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ax.set_xticks(range(n), names)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title("confusion matrix (test set)")
    threshold = confusion.max() / 2 if confusion.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                str(confusion[i, j]),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if confusion[i, j] > threshold else "black",
            )
    _save(fig, path)
