"""ptycho-simulate: write a seeded synthetic dataset in the NPZ contract."""
import sys

from ptycho.cli.common import OneLineParser, add_size_policy, apply_size_policy
from ptycho.errors import PtychoInputError
from ptycho.log import configure_console, get_logger
from ptycho.simulate import write_dataset

logger = get_logger("cli.simulate")


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="ptycho-simulate", description=__doc__)
    parser.add_argument("--output", required=True, help="NPZ file to write")
    parser.add_argument("--n-images", type=int, default=512, help="scan positions (default 512)")
    parser.add_argument("--N", type=int, default=64, help="patch size, a multiple of 8 (default 64)")
    parser.add_argument("--object-size", type=int, default=256, help="object side in px (default 256)")
    parser.add_argument("--nphotons", type=float, default=1e9, help="photons per pattern (default 1e9)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--legacy-layout", action="store_true",
                        help="store diffraction as legacy (N, N, n) under key 'diffraction'")
    parser.add_argument("--quiet", action="store_true", help="only warnings and errors")
    add_size_policy(parser)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    apply_size_policy(args)
    configure_console(quiet=args.quiet)
    try:
        raw = write_dataset(args.output, legacy_layout=args.legacy_layout, n_images=args.n_images,
                            N=args.N, object_size=args.object_size, nphotons=args.nphotons,
                            seed=args.seed)
    except PtychoInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {args.output}: cannot write ({exc.strerror or exc}) "
              "(choose a writable output path)", file=sys.stderr)
        return 2
    logger.info("wrote %s: %d patterns of %dx%d, object %s", args.output, raw.n_positions, raw.N,
                raw.N, raw.objectGuess.shape)
    return 0


if __name__ == "__main__":
    sys.exit(main())
