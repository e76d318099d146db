"""ptycho-train: train the reconstruction network on an NPZ scan and write
<output-dir>/wts.h5.zip, train.log (DEBUG) and history.json (+ reconstruction outputs when
--test-data is given)."""
import argparse
from pathlib import Path

from ptycho.cli.common import (BadInput, OneLineParser, add_size_policy, apply_size_policy,
                               bad_input_exits, load_framework, owned_outputs, positive_float,
                               positive_int, run_console_script)
from ptycho.config.config import (ACCELERATORS, BACKENDS, LOGGER_BACKENDS, ModelConfig,
                                  PyTorchExecutionConfig, TrainingConfig)
from ptycho.log import configure_console, get_logger, log_to_file
from ptycho.raw_data import RawData
from ptycho.workflows.common import canvas_shape

logger = get_logger("cli.train")

DEFAULTS = TrainingConfig()
# The CLI's own defaults for a user run, sized for CPU CI (TrainingConfig's 16 x 2 stays the
# harness' short run). Width 0.25 (8/16/32 filters) with batch 16 keeps 2 epochs on 512 patterns
# plus inference under 20 s per backend on a 2-core machine (benchmarks/bench_cli_*.py) and
# still learns: on the default simulated scan, phase SSIM 0.78 untrained -> 0.83 after 10
# epochs -> 0.87 after the 30 default epochs (lines clearly visible; ~1 min of training).
DEFAULT_NEPOCHS = 30
DEFAULT_BATCH_SIZE = 16
DEFAULT_N_FILTERS_SCALE = 0.25
TORCH_KNOBS = ("accelerator", "logger", "num_workers", "deterministic")


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="ptycho-train", description=__doc__)
    parser.add_argument("--backend", choices=BACKENDS, default="tensorflow",
                        help="training backend (default tensorflow)")
    parser.add_argument("--train-data", required=True, type=Path, help="training NPZ")
    parser.add_argument("--test-data", type=Path,
                        help="NPZ to reconstruct after training (writes PNGs, reconstruction.npz, "
                             "metrics.json)")
    parser.add_argument("--output-dir", type=Path, default=DEFAULTS.output_dir,
                        help=f"output folder (default {DEFAULTS.output_dir})")
    parser.add_argument("--nepochs", type=positive_int, default=DEFAULT_NEPOCHS,
                        help=f"training epochs (default {DEFAULT_NEPOCHS})")
    parser.add_argument("--n-groups", type=positive_int, default=DEFAULTS.n_groups,
                        help=f"training groups drawn from the scan (default {DEFAULTS.n_groups})")
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE,
                        help=f"batch size (default {DEFAULT_BATCH_SIZE})")
    parser.add_argument("--gridsize", type=int, choices=(1, 2), default=DEFAULTS.model.gridsize,
                        help="1: single patterns; 2: groups of 4 neighbours (default 1)")
    parser.add_argument("--n-filters-scale", type=positive_float,
                        default=DEFAULT_N_FILTERS_SCALE,
                        help=f"network width s: 32s/64s/128s filters (default "
                             f"{DEFAULT_N_FILTERS_SCALE})")
    parser.add_argument("--learning-rate", type=positive_float, default=DEFAULTS.learning_rate,
                        help=f"Adam learning rate, both backends (default {DEFAULTS.learning_rate})")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed,
                        help=f"random seed (default {DEFAULTS.seed})")
    parser.add_argument("--quiet", action="store_true", help="only warnings and errors on stderr")
    torch = parser.add_argument_group("PyTorch execution (only with --backend pytorch)")
    torch.add_argument("--accelerator", choices=ACCELERATORS, help="default cpu")
    torch.add_argument("--logger", choices=LOGGER_BACKENDS, help="Lightning logger (default csv)")
    torch.add_argument("--num-workers", type=int, help="DataLoader workers (default 0)")
    torch.add_argument("--deterministic", action=argparse.BooleanOptionalAction,
                       help="deterministic algorithms (default on)")
    add_size_policy(parser)
    return parser


def _execution_config(args) -> PyTorchExecutionConfig | None:
    given = [name for name in TORCH_KNOBS if getattr(args, name) is not None]
    if args.backend != "pytorch":
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            verb = "applies" if len(given) == 1 else "apply"
            raise BadInput(f"ptycho-train: {flags} {verb} only to --backend pytorch "
                           "(drop them or pass --backend pytorch)")
        return None
    knobs = {"accelerator": args.accelerator, "logger_backend": args.logger,
             "num_workers": args.num_workers, "deterministic": args.deterministic}
    return PyTorchExecutionConfig(learning_rate=args.learning_rate,
                                  **{k: v for k, v in knobs.items() if v is not None})


def _load_inputs(args) -> tuple[RawData, RawData | None]:
    train = RawData.from_file(args.train_data)
    test = RawData.from_file(args.test_data) if args.test_data is not None else None
    if test is not None and test.N != train.N:
        raise BadInput(f"{args.test_data}: patterns are {test.N}x{test.N} but the training data's "
                       f"are {train.N}x{train.N} (use test data with the training patch size)")
    if test is not None:
        canvas_shape(test)   # its stitching canvas is checked before training, not after

    return train, test


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    apply_size_policy(args)
    configure_console(quiet=args.quiet)
    with bad_input_exits():
        execution_config = _execution_config(args)
        train, test = _load_inputs(args)
        config = TrainingConfig(
            model=ModelConfig(N=train.N, gridsize=args.gridsize,
                              n_filters_scale=args.n_filters_scale),
            train_data_file=args.train_data, test_data_file=args.test_data,
            batch_size=args.batch_size, nepochs=args.nepochs, n_groups=args.n_groups,
            output_dir=args.output_dir, backend=args.backend, learning_rate=args.learning_rate,
            seed=args.seed)
        with owned_outputs(args.output_dir) as output_dir:
            load_framework(args.backend, training=True)
            # Imported only now: bad input above fails fast, without a framework import.
            from ptycho.workflows import common
            from ptycho.workflows.backend_selector import run_cdi_example_with_backend
            with log_to_file(output_dir / "train.log"):
                logger.debug("ptycho-train %s", vars(args))
                _, _, results = run_cdi_example_with_backend(
                    train, test, config, do_stitching=test is not None,
                    execution_config=execution_config)
                common.write_json(output_dir / "history.json", results["history"])
                if test is not None:
                    quality = common.write_reconstruction(output_dir, results, test)
                    logger.info("reconstruction metrics: %s", quality or "no objectGuess")
                logger.info("%s backend trained in %.1f s; wrote %s", results["backend"],
                            results["train_seconds"], results["archive_path"])
    return 0


def console_main() -> None:
    """The ptycho-train console script (also `python -m ptycho.cli.train`)."""
    run_console_script(main)


if __name__ == "__main__":
    console_main()
