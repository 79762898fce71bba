"""A training run's output folder: checked before training, written aside, swapped in whole.

A reader of the folder sees the earlier run or the new one, never a mixture
of their files; an interrupted run leaves the earlier one as it was, and its
temporary folder is removed (by the run itself, or, if it was killed outright,
by the next run into the same place).
"""

import os
import shutil

from .._files import make_temporary_directory, remove_stale_temporaries, replace_directory


class RunFolder:
    """The folder ``path`` that receives the files ``names``; ValueError (naming ``option``) if it cannot.

    Checked at once: ``path`` must be a folder or not exist; an existing one
    may hold only earlier outputs (``names``, files), and those only with
    ``overwrite``; its parent must be writable. Write each output to
    :meth:`file`, then :meth:`commit` to put the run in place, or
    :meth:`discard` to drop it.
    """

    def __init__(self, path, names, *, overwrite=False, option="--out"):
        path = os.fspath(path)
        if not path:
            raise ValueError(f"{option} must name a folder, got an empty string")
        self.path = os.path.abspath(path)
        self.names = tuple(names)
        if os.path.lexists(self.path):
            self._check_earlier_run(path, overwrite, option)
        parent = os.path.dirname(self.path)
        try:
            os.makedirs(parent, exist_ok=True)
            remove_stale_temporaries(parent, os.path.basename(self.path))
            self.temporary = make_temporary_directory(self.path)
        except (FileExistsError, NotADirectoryError):
            raise ValueError(f"{option} {path}: a part of the path is a file, not a folder") from None
        except OSError as exc:
            raise ValueError(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None

    def _check_earlier_run(self, path, overwrite, option):
        if not os.path.isdir(self.path) or os.path.islink(self.path):
            raise ValueError(f"{option} {path} exists and is not a folder")
        entries = os.listdir(self.path)
        foreign = sorted(e for e in entries if e not in self.names or not os.path.isfile(os.path.join(self.path, e)))
        if foreign:
            raise ValueError(
                f"{option} {path} holds {', '.join(foreign[:5])}{' ...' if len(foreign) > 5 else ''}, which a run "
                f"does not write; a run replaces its whole folder, so choose an empty or new {option}"
            )
        if entries and not overwrite:
            raise ValueError(
                f"{option} {path} already holds {', '.join(sorted(entries))}; choose another {option} or pass --overwrite"
            )

    def file(self, name):
        """Where to write the output ``name`` (inside the temporary folder)."""
        return os.path.join(self.temporary, name)

    def commit(self):
        """Put the new run in place of ``path`` (and remove the earlier one)."""
        replace_directory(self.temporary, self.path)

    def discard(self):
        """Drop the new run's temporary folder; ``path`` stays as it was."""
        shutil.rmtree(self.temporary, ignore_errors=True)
