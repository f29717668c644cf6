"""The mirage command line in-process (the compiled part of the mirage package)."""

version: str
git_sha: str
has_cuda: bool
has_mpi: bool

def run_cli(args: list[str]) -> tuple[int, str]:
    """Runs the mirage command line `args` (program name first) with the GIL released;
    returns (exit_code, error): 0 and "", 2 and the message of bad input, 1 and that of
    another failure, 75 when stopped by a signal after a checkpoint."""

def progress() -> tuple[int, int, int]:
    """(done, total, started): token draws of the latest sampling and how many have
    started in this process; callable from another thread while run_cli runs."""
