"""``reckon``: the command line (each subcommand imports only what it needs)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

#: The environment variables that set numpy's BLAS thread count (OpenBLAS, MKL).
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def one_blas_thread() -> None:
    """Have numpy's BLAS use one thread (unless the environment says otherwise); call it
    before numpy is imported. A server runs a node process per core beside its coordinator,
    and their matrix products are small (a refit's, mostly): BLAS threads would only
    contend for the same cores, and spin while they wait."""
    for name in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(name, "1")


def _coordinator(argv: list[str]) -> int:
    one_blas_thread()
    from coordinator.main import main

    return main(argv)


def one_numba_thread() -> None:
    """Have Numba's parallel kernels use one thread (unless the environment says otherwise);
    call it before numba is imported. A node is one process per core and runs a forecast
    part on one thread already; a pool of a thread per core in every node would only
    contend for the cores (an OpenMP pool spins between parts), which cost 8 nodes on 16
    cores a third of their forecast throughput."""
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")


def _node(argv: list[str]) -> int:
    one_blas_thread()
    one_numba_thread()
    from node.main import main

    return main(argv)


def _demo(argv: list[str]) -> int:
    from coordinator.demo import main

    return main(argv)


def _tenant(argv: list[str]) -> int:
    from coordinator.tenant_cli import main

    return main(argv)


def _eval(argv: list[str]) -> int:
    from bench.evaluation.cli import main

    return main(argv)


def _deploy(argv: list[str]) -> int:
    from coordinator.deploy_cli import main

    return main(argv)


def _forecast(argv: list[str]) -> int:
    from coordinator.forecast_cli import main

    return main(argv)


def _bench(argv: list[str]) -> int:
    from bench.harness.cli import main

    return main(argv)


def _no_arguments(name: str, argv: list[str]) -> int | None:
    """For a command that takes no arguments: None when there are none, else the exit
    status after printing its usage (``-h``/``--help``: 0) or a usage error (2)."""
    if not argv:
        return None
    if argv[0] in ("-h", "--help"):
        print(f"usage: reckon {name}\n\n{COMMANDS[name][1]}")
        return 0
    print(f"reckon {name}: takes no arguments; try 'reckon {name} --help'", file=sys.stderr)
    return 2


def _warmup(argv: list[str]) -> int:
    if (status := _no_arguments("warmup", argv)) is not None:
        return status
    from node.warmup import warm_up

    print(f"kernels compiled and cached in {warm_up():.1f}s")
    return 0


def _version(argv: list[str]) -> int:
    if (status := _no_arguments("version", argv)) is not None:
        return status
    from coordinator import __version__

    print(f"reckon {__version__}")
    return 0


COMMANDS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "demo": (_demo, "run a whole cluster on this machine with a demo tenant"),
    "coordinator": (_coordinator, "run a coordinator (HTTP API, routing, persistence)"),
    "node": (_node, "run a node process hosting actors"),
    "tenant": (_tenant, "create tenants and API keys"),
    "eval": (_eval, "evaluate estimators offline on a data file against baselines"),
    "forecast": (_forecast, "Monte Carlo forecast of a project (locally or on a server)"),
    "bench": (_bench, "capacity planning: open-loop load, sweeps, a report with plots"),
    "warmup": (_warmup, "compile the numeric kernels into Numba's cache ($NUMBA_CACHE_DIR)"),
    "deploy": (_deploy, "deploy or upgrade a cluster with the Ansible playbooks"),
    "version": (_version, "print the version of reckon (also: reckon --version)"),
}


def _print_help() -> None:
    parser = argparse.ArgumentParser(prog="reckon", description="Effort estimation service.",
                                     usage="reckon [-h] [--version] COMMAND [ARGS ...]")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.print_help()
    print("\ncommands:")
    for name, (_, text) in COMMANDS.items():
        print(f"  {name:<12} {text}")
    print("\n'reckon COMMAND --help' describes a command's arguments.")


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        _print_help()
        return 0 if args else 2
    if args[0] == "--version":
        return _version(args[1:])
    if args[0] not in COMMANDS:
        print(f"reckon: unknown command {args[0]!r}; try 'reckon --help'", file=sys.stderr)
        return 2
    return COMMANDS[args[0]][0](args[1:])


if __name__ == "__main__":
    sys.exit(main())
