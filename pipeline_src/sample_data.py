"""The reference recipe's seeded card-transaction data set, split for training.

    python -m pipeline_src.sample_data --out DIR [--rows 50000] [--seed 42]

writes DIR/train.csv, DIR/validation.csv and DIR/test.csv (stratified 60/20/20) and prints the
class balance of each split.

The columns follow the data contract (pipeline_src/contract.json): the recipe's columns are drawn
draw for draw and its label computed from them; a categorical column gets, for the recipe's
integer draw i, the contract's i-th declared value; a contract column the recipe does not know
is noise drawn from its declaration (a separate seeded stream, so the recipe's draws do not move);
the label is written as the contract spells its positive and negative values.
"""
from __future__ import annotations

import sys
from pathlib import Path

from pipeline_src.cli import (Parser, UsageError, int_in, output_folder, print_error,
                              staged_folder)
from pipeline_src.contract import SPLITS, feature_names, label_name, label_values, load

SPLIT_FRACTIONS = (0.6, 0.2, 0.2)
# Stratifying 60/20/20 with both classes in every part needs a few of each class.
MIN_PER_CLASS = 5
# At the generator's 0.3 % fraud rate, fewer than ~2,000 rows rarely hold MIN_PER_CLASS frauds.
MIN_ROWS, MAX_ROWS = 100, 5_000_000
MAX_SEED = 2**32 - 1  # numpy's legacy RandomState


def generate(n_rows: int = 50_000, seed: int = 42):
    """The reference generator, draw for draw (legacy numpy seeding), so 50k rows give 151 frauds."""
    import numpy as np
    import pandas as pd

    rng = np.random.RandomState(seed)
    n = n_rows
    data = {
        "amount": rng.exponential(50, n),
        "hour": rng.randint(0, 24, n),
        "day_of_week": rng.randint(0, 7, n),
        "merchant_category": rng.randint(0, 20, n),
        "distance_from_home": rng.exponential(10, n),
        "online_transaction": rng.choice([0, 1], n, p=[0.7, 0.3]),
        "previous_failures": rng.poisson(0.1, n),
        "account_age_days": rng.randint(30, 3650, n),
        "credit_limit": rng.normal(5000, 2000, n),
        "current_balance": rng.normal(2000, 1500, n),
    }
    for i in range(10):
        data[f"feature_{i}"] = rng.normal(0, 1, n)
    df = pd.DataFrame(data)
    score = (0.3 * (df["amount"] > 200) + 0.2 * (df["hour"] > 22)
             + 0.25 * (df["distance_from_home"] > 50) + 0.1 * (df["online_transaction"] == 1)
             + 0.15 * rng.uniform(0, 1, n))
    contract = load()
    df = conform(df, np.random.RandomState([seed, 1]))
    df[contract.label] = np.where(score > 0.5, contract.positive, contract.negative)
    return df[feature_names() + [contract.label]]


def conform(df, rng):
    """The recipe's columns as the contract declares them (see the module docstring)."""
    import numpy as np
    import pandas as pd

    out = {}
    for f in load().features:
        if f.name in df.columns and f.categorical:
            codes = df[f.name].to_numpy()
            out[f.name] = np.asarray(f.values, dtype=object)[codes % len(f.values)]
        elif f.name in df.columns:
            out[f.name] = df[f.name].to_numpy()
        elif f.categorical:
            out[f.name] = np.asarray(f.values, dtype=object)[rng.randint(0, len(f.values),
                                                                         len(df))]
        elif f.dtype == "int":
            out[f.name] = rng.randint(int(f.min), int(f.max) + 1, len(df))
        else:
            out[f.name] = rng.uniform(f.min, f.max, len(df))
    return pd.DataFrame(out, index=df.index)


def split(df, seed: int = 42, source: str = "the data") -> dict:
    """Stratified train/validation/test split, so each keeps the 0.3 % fraud rate.

    ValueError (one line) when a class is too rare for every split to hold both classes."""
    from sklearn.model_selection import train_test_split

    y = label_values(df[label_name()], source, both_classes=False)
    positives = int(y.sum())
    if min(positives, len(df) - positives) < MIN_PER_CLASS:
        raise ValueError(f"{source}: {positives} fraud and {len(df) - positives} legitimate rows; "
                         f"a 60/20/20 split with both classes in every part needs at least "
                         f"{MIN_PER_CLASS} of each")
    train_frac, val_frac, test_frac = SPLIT_FRACTIONS
    train, rest = train_test_split(df, train_size=train_frac, stratify=y, random_state=seed)
    validation, test = train_test_split(rest, test_size=test_frac / (val_frac + test_frac),
                                        stratify=y[rest.index], random_state=seed)
    return {name: part.reset_index(drop=True)
            for name, part in zip(SPLITS, (train, validation, test))}


def write_splits(splits: dict, out_dir) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, part in splits.items():
        paths[name] = out_dir / f"{name}.csv"
        part.to_csv(paths[name], index=False)
    return paths


def class_balance(splits: dict) -> str:
    lines = [f"{'split':<11}{'rows':>8}{'fraud':>8}{'rate':>9}"]
    for name, part in splits.items():
        positives = int(label_values(part[label_name()], both_classes=False).sum())
        lines.append(f"{name:<11}{len(part):>8}{positives:>8}{positives / max(len(part), 1):>9.3%}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = Parser(prog="python -m pipeline_src.sample_data",
                    description="Write the seeded sample data set as CSV splits.")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--rows", type=int_in(MIN_ROWS, MAX_ROWS), default=50_000,
                        help=f"rows to generate ({MIN_ROWS}..{MAX_ROWS})")
    parser.add_argument("--seed", type=int_in(0, MAX_SEED), default=42)
    try:
        args = parser.parse_args(argv)
        out = output_folder(args.out, "--out")
        splits = split(generate(args.rows, args.seed), args.seed,
                       source=f"{args.rows} sample rows")
        with staged_folder(out, "--out") as staging:
            write_splits(splits, staging)
    except (UsageError, ValueError) as exc:
        print_error(exc)
        return 2
    print(class_balance(splits))
    print("wrote " + ", ".join(str(out / f"{name}.csv") for name in splits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
