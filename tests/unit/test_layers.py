"""What ships in the package is what the server runs: no module is there only for tests."""

import grimp

#: the server's entry points (``snapconf serve``, ``python -m snapconf``)
ENTRY_POINTS = ("snapconf.__main__", "snapconf.cli", "snapconf.app")
#: a library of its own: the aiortc WebRTC client that benchmarks/ and the tests drive
LIBRARIES = ("snapconf.client",)


def test_every_module_of_the_package_is_reached_from_the_server_entry_points():
    graph = grimp.build_graph("snapconf", cache_dir=None)
    reached: set[str] = set()
    todo = list(ENTRY_POINTS)
    while todo:
        module = todo.pop()
        if module in reached:
            continue
        reached.add(module)
        todo.extend(graph.find_modules_directly_imported_by(module))
        parts = module.split(".")
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
    unreached = {
        m
        for m in graph.modules - reached
        if not any(m == lib or m.startswith(lib + ".") for lib in LIBRARIES)
    }
    assert unreached == set()
