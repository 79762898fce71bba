"""The package's import graph: data flow one way (cli -> training -> nn -> conv -> engine -> kernels)."""

import ast
import pathlib

import fastconv

PACKAGE = pathlib.Path(fastconv.__file__).parent

# Layers from the bottom up: a module may import modules of its own layer or the ones below.
LAYERS = [
    {
        "fastconv._names",
        "fastconv._version",
        "fastconv._thread_policy",
        "fastconv._files",
        "fastconv._timing",
        "fastconv.kernels",
    },
    {"fastconv._geometry", "fastconv._arguments"},
    {"fastconv.engine"},
    {"fastconv.conv", "fastconv.pool", "fastconv.tuning"},
    {"fastconv.lecture"},
    {"fastconv.nn"},
    {"fastconv.training"},
    {
        "fastconv.bench",
        "fastconv.training_bench",
        "fastconv._torch_timer",
        "fastconv.cli",
        "fastconv.__main__",
        "fastconv",
        "fastconv.dask",
        "fastconv.distributed",
    },
]


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(name):
    """Index in LAYERS of the longest group that is ``name`` or a package holding it."""
    matches = [
        (len(group), i)
        for i, groups in enumerate(LAYERS)
        for group in groups
        if name == group or name.startswith(group + ".")
    ]
    assert matches, f"{name} belongs to no layer of this test"
    return max(matches)[1]


def imports_of(path):
    """Every fastconv module that the file at ``path`` imports, absolute, with the imported names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            if base.split(".")[0] == "fastconv":
                found += [f"{base}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] == "fastconv"]
    return found


def test_every_import_points_down_the_layers():
    back_arrows = []
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        for target in imports_of(path):
            if layer_of(target) > layer_of(name):
                back_arrows.append(f"{name} imports {target}")
    assert back_arrows == []


def test_only_the_engine_interface_is_used_from_outside_and_only_the_engine_runs_kernels():
    from fastconv import engine

    reaching_in = []
    for path in PACKAGE.rglob("*.py"):
        name = module_name(path)
        if name.startswith(("fastconv.engine", "fastconv.kernels")):
            continue
        for target in imports_of(path):
            parts = target.split(".") + ["", ""]
            if parts[1] == "kernels" or (parts[1] == "engine" and parts[2] not in engine.__all__):
                reaching_in.append(f"{name} imports {target}")
    assert reaching_in == []


def test_the_check_sees_relative_imports():
    assert "fastconv.engine.run_pass" in imports_of(PACKAGE / "conv.py")
    assert layer_of("fastconv.engine.run_pass") < layer_of("fastconv.conv")
