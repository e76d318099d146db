"""ptycho-infer: reconstruct an NPZ scan with a trained model archive and write
reconstructed_amplitude.png, reconstructed_phase.png, reconstruction.npz, metrics.json (when
the data hold objectGuess) and inference.log. The backend is the one named in the archive."""
from pathlib import Path

from ptycho import archive
from ptycho.cli.common import (BadInput, OneLineParser, add_size_policy, apply_size_policy,
                               bad_input_exits, failure_line, load_framework, owned_outputs,
                               positive_int, run_console_script)
from ptycho.config.config import BACKENDS, InferenceConfig, ModelConfig
from ptycho.errors import PtychoInputError
from ptycho.log import configure_console, get_logger, log_to_file
from ptycho.raw_data import RawData

logger = get_logger("cli.infer")


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="ptycho-infer", description=__doc__)
    parser.add_argument("--model-path", required=True, type=Path,
                        help=f"training output folder holding {archive.ARCHIVE_NAME} (or the archive)")
    parser.add_argument("--test-data", required=True, type=Path, help="NPZ to reconstruct")
    parser.add_argument("--output-dir", type=Path, default=InferenceConfig().output_dir,
                        help=f"output folder (default {InferenceConfig().output_dir})")
    parser.add_argument("--backend", choices=BACKENDS,
                        help="expected backend; default: the one recorded in the archive")
    parser.add_argument("--n-groups", type=positive_int,
                        help="reconstruct only this many groups (default: every scan position)")
    parser.add_argument("--quiet", action="store_true", help="only warnings and errors on stderr")
    add_size_policy(parser)
    return parser


def _check_inputs(args) -> tuple[str, dict, RawData]:
    """(backend, archived params, test data), all validated before any framework import."""
    manifest, params_doc = archive.read_metadata(args.model_path)
    backend = manifest["backend"]
    path = archive.archive_path(args.model_path)
    if args.backend is not None and args.backend != backend:
        raise BadInput(f"{path}: archive was written by the {backend!r} backend but --backend "
                       f"{args.backend} was given (omit --backend or pass --backend {backend})")
    test = RawData.from_file(args.test_data)
    n_model = params_doc["cfg"]["N"]
    if test.N != n_model:
        raise BadInput(f"{args.test_data}: patterns are {test.N}x{test.N} but the model in {path} "
                       f"was trained with N = {n_model} (use data with {n_model}x{n_model} patterns)")
    return backend, params_doc, test


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    apply_size_policy(args)
    configure_console(quiet=args.quiet)
    with bad_input_exits():
        backend, params_doc, test = _check_inputs(args)
        cfg = params_doc["cfg"]
        config = InferenceConfig(
            model=ModelConfig(N=cfg["N"], gridsize=cfg["gridsize"]), model_path=args.model_path,
            test_data_file=args.test_data, n_groups=args.n_groups, output_dir=args.output_dir,
            backend=backend)
        load_framework(backend, training=False)
        # Imported only now, and only the archive's framework (a torch archive never loads TF).
        from ptycho.workflows import common
        from ptycho.workflows.backend_selector import get_backend, load_inference_bundle_with_backend
        with owned_outputs(args.output_dir) as output_dir, \
                log_to_file(output_dir / "inference.log"):
            logger.debug("ptycho-infer %s", vars(args))
            try:
                models, _ = load_inference_bundle_with_backend(args.model_path, config)
                results = common.reconstruct(get_backend(backend), models, test,
                                             n_groups=args.n_groups)
            except Exception as exc:
                # our own one-line errors (bad input, POLICY-001) pass; a framework's own error
                # while loading or predicting becomes one
                if isinstance(exc, PtychoInputError) or "PyTorch backend selected" in str(exc):
                    raise
                raise _cannot_reconstruct(args, exc) from exc
            quality = common.write_reconstruction(output_dir, results, test)
            logger.info("%s reconstruction of %s written to %s; metrics: %s", backend,
                        args.test_data, output_dir, quality or "no objectGuess")
    return 0


def _cannot_reconstruct(args, exc: BaseException) -> BadInput:
    return BadInput(f"{args.model_path}: the model cannot reconstruct {args.test_data} "
                    f"({failure_line(exc)}) (check that the archive holds this package's "
                    "networks for this data's patch size; retrain if it is damaged)")


def console_main() -> None:
    """The ptycho-infer console script (also `python -m ptycho.cli.infer`)."""
    run_console_script(main)


if __name__ == "__main__":
    console_main()
