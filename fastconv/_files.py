"""Files in and out: nothing half-written, nothing read that is larger than it may be.

* :func:`write_atomically` writes a file beside its destination and renames it
  into place, so a reader sees the old file or the new one.
* :func:`replace_directory` does the same for a whole folder (a training run's
  outputs): the new folder is swapped in whole.
* :func:`check_file_size` refuses a file larger than a limit before anything
  reads it.

Files and folders made here get the permissions of any other file the user
writes (0666 or 0777 less the umask), not the private ones of ``tempfile``.
"""

import ctypes
import os
import shutil
import tempfile

TEMPORARY_MARK = ".tmp-"  # in the names of temporaries beside a destination: .tmp-<pid>-<random>-<name>


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temporary_prefix():
    return f"{TEMPORARY_MARK}{os.getpid()}-"


def write_atomically(path, write):
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it into place."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=_temporary_prefix(), suffix="-" + os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def check_file_size(path, limit, what):
    """The size of the file at ``path`` in bytes; ValueError naming the file if it exceeds ``limit``."""
    size = os.path.getsize(path)
    if size > limit:
        raise ValueError(f"{path}: {size} bytes is more than a {what} may have ({limit} bytes)")
    return size


def remove_stale_temporaries(directory, name):
    """Delete temporaries for ``name`` in ``directory`` that no running process owns (left by a killed run)."""
    for entry in os.listdir(directory):
        if not (entry.startswith(TEMPORARY_MARK) and entry.endswith("-" + name)):
            continue
        pid = entry[len(TEMPORARY_MARK) :].split("-", 1)[0]
        if pid.isdigit() and _process_exists(int(pid)):
            continue  # a running process's (this one's included) is still in use
        path = os.path.join(directory, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


def _process_exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def make_temporary_directory(path):
    """An empty folder beside ``path`` (same file system, so it can be renamed onto it), mode 0777 less umask."""
    path = os.path.abspath(os.fspath(path))
    directory = tempfile.mkdtemp(
        dir=os.path.dirname(path), prefix=_temporary_prefix(), suffix="-" + os.path.basename(path)
    )
    try:
        os.chmod(directory, 0o777 & ~_umask())
    except BaseException:
        os.rmdir(directory)
        raise
    return directory


_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a, b):
    """Swap two paths in one step (Linux renameat2); False where the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_cwd = -100  # AT_FDCWD
    if renameat2(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    if ctypes.get_errno() in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not on this file system
        return False
    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), b)


def replace_directory(new, path):
    """Put the folder ``new`` in the place of ``path`` (which may exist), then delete the old folder.

    Where the system allows it, the two folders swap in one step; elsewhere
    the old one is renamed aside first, and ``path`` is briefly absent.
    """
    path = os.path.abspath(os.fspath(path))
    if not os.path.exists(path):
        os.rename(new, path)
        return
    if _exchange(new, path):
        shutil.rmtree(new)
        return
    aside = make_temporary_directory(path)
    os.rmdir(aside)
    os.rename(path, aside)
    os.rename(new, path)
    shutil.rmtree(aside)
